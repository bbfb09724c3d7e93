//! The credential lifecycle: four statuses, four actions, and the one table that says which
//! action is legal from which status. Revoked and superseded are final: a credential that
//! was revoked for fraud must never quietly come back.

use super::Invalid;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A credential's live status. The numeric codes are the 2-bit values of the IETF Token
/// Status List (0 valid, 1 revoked, 2 suspended, 3 superseded), so the in-memory status
/// lists and the published ones are the same bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CredentialStatus {
    /// In force.
    Active,
    /// Withdrawn for good.
    Revoked,
    /// Temporarily not in force; may be reinstated.
    Suspended,
    /// Replaced by a re-issued credential (final).
    Superseded,
}

impl CredentialStatus {
    /// The 2-bit status-list code.
    pub fn code(self) -> u8 {
        match self {
            Self::Active => 0,
            Self::Revoked => 1,
            Self::Suspended => 2,
            Self::Superseded => 3,
        }
    }

    /// The status for a 2-bit code.
    pub fn from_code(code: u8) -> Self {
        match code & 3 {
            0 => Self::Active,
            1 => Self::Revoked,
            2 => Self::Suspended,
            _ => Self::Superseded,
        }
    }

    /// The name used in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Revoked => "revoked",
            Self::Suspended => "suspended",
            Self::Superseded => "superseded",
        }
    }

    /// Parse the stored name.
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        match s {
            "active" => Ok(Self::Active),
            "revoked" => Ok(Self::Revoked),
            "suspended" => Ok(Self::Suspended),
            "superseded" => Ok(Self::Superseded),
            _ => Err(Invalid::new("status", "unknown status")),
        }
    }
}

impl fmt::Display for CredentialStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A registrar's lifecycle action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusAction {
    /// active → suspended
    Suspend,
    /// suspended → active
    Reinstate,
    /// active|suspended → revoked
    Revoke,
    /// active|suspended → superseded (by re-issue)
    Supersede,
}

impl StatusAction {
    /// The status an action leads to from `from`, or `None` when the transition is illegal.
    pub fn apply(self, from: CredentialStatus) -> Option<CredentialStatus> {
        use CredentialStatus::*;
        match (self, from) {
            (Self::Suspend, Active) => Some(Suspended),
            (Self::Reinstate, Suspended) => Some(Active),
            (Self::Revoke, Active | Suspended) => Some(Revoked),
            (Self::Supersede, Active | Suspended) => Some(Superseded),
            _ => None,
        }
    }

    /// The action's name in the API and the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Suspend => "suspend",
            Self::Reinstate => "reinstate",
            Self::Revoke => "revoke",
            Self::Supersede => "reissue",
        }
    }
}

/// Why a status changed. A closed vocabulary, because the code is shown publicly (translated)
/// while the free text, which may hold personal details, is not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReasonCode {
    /// The person's data changed (typical for re-issue).
    DataChanged,
    /// The card or document was reported lost.
    Lost,
    /// The card or document was reported stolen.
    Stolen,
    /// The holder died.
    Deceased,
    /// Fraud was found.
    Fraud,
    /// The holder is no longer eligible for the programme.
    EligibilityEnded,
    /// Under review; typical for a suspension.
    UnderReview,
    /// Issued by mistake.
    IssuedInError,
    /// The review ended in the holder's favour (typical for reinstate).
    ReviewCleared,
    /// The signing key was compromised.
    KeyCompromise,
    /// Anything else; say what in the text.
    Other,
}

impl ReasonCode {
    /// The code's name as stored and served.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DataChanged => "data_changed",
            Self::Lost => "lost",
            Self::Stolen => "stolen",
            Self::Deceased => "deceased",
            Self::Fraud => "fraud",
            Self::EligibilityEnded => "eligibility_ended",
            Self::UnderReview => "under_review",
            Self::IssuedInError => "issued_in_error",
            Self::ReviewCleared => "review_cleared",
            Self::KeyCompromise => "key_compromise",
            Self::Other => "other",
        }
    }

    /// Parse a stored code.
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        serde_json::from_value(serde_json::Value::String(s.to_owned()))
            .map_err(|_| Invalid::new("reason_code", "unknown reason code"))
    }
}

#[cfg(test)]
mod tests {
    use super::CredentialStatus::*;
    use super::*;

    #[test]
    fn transition_table() {
        use StatusAction::*;
        let all = [Active, Suspended, Revoked, Superseded];
        let legal: Vec<_> = [Suspend, Reinstate, Revoke, Supersede]
            .iter()
            .flat_map(|a| all.iter().map(move |s| (*a, *s, a.apply(*s))))
            .filter(|(_, _, to)| to.is_some())
            .map(|(a, s, to)| (a, s, to.expect("filtered")))
            .collect();
        assert_eq!(
            legal,
            vec![
                (Suspend, Active, Suspended),
                (Reinstate, Suspended, Active),
                (Revoke, Active, Revoked),
                (Revoke, Suspended, Revoked),
                (Supersede, Active, Superseded),
                (Supersede, Suspended, Superseded),
            ]
        );
    }

    #[test]
    fn codes_round_trip() {
        for s in [Active, Suspended, Revoked, Superseded] {
            assert_eq!(CredentialStatus::from_code(s.code()), s);
            assert_eq!(CredentialStatus::parse(s.as_str()), Ok(s));
        }
        assert_eq!(Revoked.code(), 1);
        assert_eq!(Suspended.code(), 2);
        assert_eq!(ReasonCode::parse("lost"), Ok(ReasonCode::Lost));
        assert!(ReasonCode::parse("nope").is_err());
    }
}
