//! The sign-up and sign-in pipeline: every way into an account goes through here.
//!
//! - [`gate`]: the sign-up gate (sign-up rules) run before an account is created from a
//!   sign-in method, and the rules' tester and statistics.
//! - `account`: creating an account, or upgrading an anonymous user into one (the user
//!   row, its first address, the personal team, default permissions, the `sign_up` event).
//! - `session`: opening a session (the row, the sign-in's bookkeeping) and minting its
//!   tokens once the transaction has committed.
//!
//! The sign-in methods (password, OTP, anonymous, MFA, and later passkeys and OAuth) decide
//! *who* the user is; these functions decide what that means, the same way for all of them.

pub(crate) mod account;
pub mod gate;
pub(crate) mod session;

pub use gate::{ActionCounts, HourCount, RuleStats, RuleTriggers, SignUpRules};
