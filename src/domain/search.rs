//! Folding names for search: a registrar types "فاطمه" or "أحمد" and must find "فاطمة" and
//! "احمد". Arabic is written with optional marks and several interchangeable letter forms;
//! Latin names differ in case. Both the stored key and the typed query go through [`fold`],
//! so a plain substring match on the folded text is a forgiving name search.

/// Fold text for search: Arabic hamza/alef forms (أ إ آ ٱ) to ا, ؤ to و, ئ to ي, ة to ه,
/// ى to ي; diacritics (harakat, shadda, sukun, superscript alef, Quranic marks) and tatweel
/// removed; Latin lower-cased; runs of spaces collapsed.
pub fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut space = true;
    for c in s.chars() {
        let c = match c {
            'أ' | 'إ' | 'آ' | 'ٱ' | 'ٲ' | 'ٳ' => 'ا',
            'ؤ' => 'و',
            'ئ' => 'ي',
            'ة' => 'ه',
            'ى' => 'ي',
            // Tatweel, harakat and other combining marks of the Arabic block.
            '\u{0640}' | '\u{064B}'..='\u{065F}' | '\u{0670}' | '\u{06D6}'..='\u{06ED}' => {
                continue;
            }
            c if c.is_whitespace() => ' ',
            c => c,
        };
        if c == ' ' {
            if !space {
                out.push(' ');
            }
            space = true;
            continue;
        }
        space = false;
        out.extend(c.to_lowercase());
    }
    while out.ends_with(' ') {
        out.pop();
    }
    out
}

/// The search key stored with a person: both names folded, separated by a line break so
/// a query cannot match across them.
pub fn person_key(name_ar: &str, name_en: &str) -> String {
    format!("{}\n{}", fold(name_ar), fold(name_en))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arabic_variants_fold_together() {
        assert_eq!(fold("أحمد"), fold("احمد"));
        assert_eq!(fold("إيمان"), fold("ايمان"));
        assert_eq!(fold("آمنة"), "امنه");
        assert_eq!(fold("فاطمة"), fold("فاطمه"));
        assert_eq!(fold("مصطفى"), fold("مصطفي"));
        assert_eq!(fold("مؤمن"), "مومن");
        assert_eq!(fold("عائشة"), "عايشه");
        assert_eq!(fold("مُحَمَّد"), "محمد");
        assert_eq!(fold("محـــمد"), "محمد");
        assert_eq!(fold("ٱلله"), "الله");
    }

    #[test]
    fn latin_case_and_spaces() {
        assert_eq!(fold("  Fatima   AL-Zahra "), "fatima al-zahra");
        assert_eq!(person_key("فاطمة", "Fatima"), "فاطمه\nfatima");
    }
}
