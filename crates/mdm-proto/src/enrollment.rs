/// The keys by which a message names the enrollment (channel) it comes from.
///
/// Every check-in and command report carries some of these. Which ones, and what they mean
/// together, is the business of the `mdm-enrollment` crate; here they are only decoded. Empty
/// strings are treated as absent, as NanoMDM does.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
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

impl Enrollment {
    /// The keys of a device channel: `UDID`.
    pub fn device(udid: impl Into<String>) -> Self {
        Enrollment {
            udid: Some(udid.into()),
            ..Default::default()
        }
    }

    /// The keys of a user channel on a device: `UDID` and `UserID` (for Shared iPad, `UserID`
    /// `FFFFFFFF-…`, with `user_short_name` set as well).
    pub fn user(udid: impl Into<String>, user_id: impl Into<String>) -> Self {
        Enrollment {
            udid: Some(udid.into()),
            user_id: Some(user_id.into()),
            ..Default::default()
        }
    }

    /// The keys of a User Enrollment's device channel: `EnrollmentID`.
    pub fn user_enrollment_device(enrollment_id: impl Into<String>) -> Self {
        Enrollment {
            enrollment_id: Some(enrollment_id.into()),
            ..Default::default()
        }
    }

    /// The keys of a User Enrollment's user channel: `EnrollmentID` and `EnrollmentUserID`.
    pub fn user_enrollment(
        enrollment_id: impl Into<String>,
        enrollment_user_id: impl Into<String>,
    ) -> Self {
        Enrollment {
            enrollment_id: Some(enrollment_id.into()),
            enrollment_user_id: Some(enrollment_user_id.into()),
            ..Default::default()
        }
    }
}
