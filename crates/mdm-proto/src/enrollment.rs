/// The keys by which a message names the enrollment (channel) it comes from.
///
/// Every check-in and command report carries some of these. Which ones, and what they mean
/// together, is the business of the `mdm-enrollment` crate; here they are only decoded. Empty
/// strings are treated as absent, as NanoMDM does.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Enrollment {
    /// `UDID`: the device's unique identifier (device enrollments).
    pub udid: Option<String>,
    /// `UserID`: the user's GUID on a user channel (`FFFFFFFF-…` on Shared iPad).
    pub user_id: Option<String>,
    /// `UserShortName`: the user's short name (Shared iPad managed Apple ID).
    pub user_short_name: Option<String>,
    /// `UserLongName`: the user's full name.
    pub user_long_name: Option<String>,
    /// `EnrollmentID`: the device channel id of a User Enrollment.
    pub enrollment_id: Option<String>,
    /// `EnrollmentUserID`: the user channel id of a User Enrollment.
    pub enrollment_user_id: Option<String>,
}
