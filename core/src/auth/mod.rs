//! The sign-up and sign-in pipeline: every way into an account goes through here.
//!
//! - [`gate`]: the sign-up gate (sign-up rules) run before an account is created from a
//!   sign-in method, and the rules' tester and statistics.
//! - `account`: creating an account, or upgrading an anonymous user into one (the user
//!   row, its first address, the personal team, default permissions, the `sign_up` event).
//! - `session`: opening a session (the row, the sign-in's bookkeeping) and minting its
//!   tokens once the transaction has committed.
//! - `second_factor_required`: what stands between a first factor and a session.
//!
//! The sign-in methods (password, OTP, anonymous, MFA, and later passkeys and OAuth) decide
//! *who* the user is; these functions decide what that means, the same way for all of them.

pub(crate) mod account;
pub mod gate;
pub(crate) mod session;

pub use gate::{ActionCounts, HourCount, RuleStats, RuleTriggers, SignUpRules};

use uuid::Uuid;

use crate::error::Error;
use crate::postern::Postern;
use crate::projects::Project;
use crate::storage::UserRecord;

/// The MFA gate every first factor (password, OTP, and later passkeys and OAuth) passes
/// before a session opens, for a user with TOTP: the error to answer instead of a session,
/// `MULTI_FACTOR_AUTHENTICATION_REQUIRED` with an attempt code to redeem with the second
/// factor. `claim_channel` is the address the first factor proved, claimed once the second
/// factor is given.
pub(crate) async fn second_factor_required(
    p: &Postern,
    project: &Project,
    rec: &UserRecord,
    claim_channel: Option<Uuid>,
) -> Error {
    match crate::mfa::require_second_factor(p, project, rec, false, claim_channel).await {
        Err(e) => e,
        Ok(()) => Error::Internal("second factor expected".into()),
    }
}
