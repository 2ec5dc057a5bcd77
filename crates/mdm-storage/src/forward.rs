//! Forwarding a store's methods to another store, so that a wrapper (auditing, caching, metrics)
//! writes only the methods it changes.
//!
//! [`forward_store!`](crate::forward_store) implements whole traits by forwarding every method;
//! [`forward_methods!`](crate::forward_methods) forwards the named methods inside an `impl`
//! block you write, beside the ones you override:
//!
//! ```
//! use std::sync::atomic::{AtomicUsize, Ordering};
//!
//! use mdm_storage::{CommandQueue, EnrollId, ReportOutcome, Storage, StorageError};
//! use mdm_storage::mdm_proto::CommandReport;
//!
//! /// Counts command reports; everything else goes straight to `inner`.
//! struct Counting<S> {
//!     inner: S,
//!     reports: AtomicUsize,
//! }
//!
//! mdm_storage::forward_store!(impl[S: Storage] Counting<S> => inner:
//!     CheckInStore, BootstrapTokenStore, TokenUpdateTallyStore, PushStore, PushCertStore,
//!     CertAuthStore, MigrationStore, InspectionStore);
//!
//! impl<S: Storage> CommandQueue for Counting<S> {
//!     mdm_storage::forward_methods!(inner: enqueue_command, retrieve_next_command, clear_queue);
//!
//!     async fn store_command_report(
//!         &self,
//!         id: &EnrollId,
//!         report: &CommandReport,
//!         raw: &[u8],
//!     ) -> Result<ReportOutcome, StorageError> {
//!         self.reports.fetch_add(1, Ordering::Relaxed);
//!         self.inner.store_command_report(id, report, raw).await
//!     }
//! }
//! ```
//!
//! `inner` is a field name, or `*` to forward through a pointer (`(**self)`: how `Arc<T>`,
//! `Box<T>` and `&T` implement every trait). A method added to a trait is added here too, so a
//! wrapper built on these macros keeps compiling.

/// Implements storage traits for a type by forwarding every method to one of its fields (or,
/// with `*`, through the pointer it is). See [the module docs](crate::forward) for an example.
///
/// `forward_store!(impl[GENERICS] TYPE => FIELD: Trait, Trait, …)`
#[macro_export]
macro_rules! forward_store {
    (impl $generics:tt $ty:ty => $access:tt : $($trait_:ident),+ $(,)?) => {
        $( $crate::__forward_impl!($generics $ty => $access : $trait_); )+
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __forward_impl {
    ([$($generics:tt)*] $ty:ty => $access:tt : $trait_:ident) => {
        impl<$($generics)*> $crate::$trait_ for $ty {
            $crate::__forward_trait!($trait_ $access);
        }
    };
}

/// Forwards the named storage-trait methods to a field (or, with `*`, through the pointer
/// `self` is), inside an `impl` block that writes the others itself. See
/// [the module docs](crate::forward).
///
/// `forward_methods!(FIELD: method, method, …)`
#[macro_export]
macro_rules! forward_methods {
    ($access:tt : $($method:ident),+ $(,)?) => {
        $( $crate::__forward_method!($method $access); )+
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __forward_trait {
    (CheckInStore $a:tt) => {
        $crate::forward_methods!($a: store_authenticate, store_token_update, store_user_authenticate, disable, store_check_ins);
    };
    (CommandQueue $a:tt) => {
        $crate::forward_methods!($a: enqueue_command, store_command_report, retrieve_next_command, report_and_next_command, clear_queue);
    };
    (BootstrapTokenStore $a:tt) => {
        $crate::forward_methods!($a: store_bootstrap_token, retrieve_bootstrap_token);
    };
    (TokenUpdateTallyStore $a:tt) => {
        $crate::forward_methods!($a: retrieve_token_update_tally);
    };
    (PushStore $a:tt) => {
        $crate::forward_methods!($a: retrieve_push_info);
    };
    (PushCertStore $a:tt) => {
        $crate::forward_methods!($a: is_push_cert_stale, retrieve_push_cert, store_push_cert);
    };
    (CertAuthStore $a:tt) => {
        $crate::forward_methods!($a: has_cert_hash, enrollment_has_cert_hash, is_cert_hash_associated, bind_cert_hash, associate_cert_hash, associate_cert_hashes, enrollment_from_cert_hash);
    };
    (MigrationStore $a:tt) => {
        $crate::forward_methods!($a: retrieve_migration_checkins);
    };
    (InspectionStore $a:tt) => {
        $crate::forward_methods!($a: list_enrollments, enrollment, queued_commands, remove_queued_command, clear_enrollment_queue, command, delete_answered_commands_batch);
    };
}

/// The store `self` forwards to: a field, or (`*`) what the pointer `self` points at.
#[doc(hidden)]
#[macro_export]
macro_rules! __target {
    ($self_:ident *) => {
        (**$self_)
    };
    ($self_:ident $field:ident) => {
        $self_.$field
    };
}

/// One forwarding method. Every method of every storage trait is one arm.
#[doc(hidden)]
#[macro_export]
macro_rules! __forward_method {
    // CheckInStore
    (store_authenticate $a:tt) => {
        fn store_authenticate(
            &self,
            id: &$crate::EnrollId,
            msg: &$crate::mdm_proto::Authenticate,
            raw: &[u8],
            identity_cert_der: ::core::option::Option<&[u8]>,
        ) -> impl ::core::future::Future<Output = ::core::result::Result<(), $crate::StorageError>> + Send {
            $crate::__target!(self $a).store_authenticate(id, msg, raw, identity_cert_der)
        }
    };
    (store_token_update $a:tt) => {
        fn store_token_update(
            &self,
            id: &$crate::EnrollId,
            msg: &$crate::mdm_proto::TokenUpdate,
            raw: &[u8],
        ) -> impl ::core::future::Future<Output = ::core::result::Result<(), $crate::StorageError>> + Send {
            $crate::__target!(self $a).store_token_update(id, msg, raw)
        }
    };
    (store_user_authenticate $a:tt) => {
        fn store_user_authenticate(
            &self,
            id: &$crate::EnrollId,
            msg: &$crate::mdm_proto::UserAuthenticate,
            raw: &[u8],
        ) -> impl ::core::future::Future<Output = ::core::result::Result<(), $crate::StorageError>> + Send {
            $crate::__target!(self $a).store_user_authenticate(id, msg, raw)
        }
    };
    (disable $a:tt) => {
        fn disable(
            &self,
            id: &$crate::EnrollId,
        ) -> impl ::core::future::Future<Output = ::core::result::Result<(), $crate::StorageError>> + Send {
            $crate::__target!(self $a).disable(id)
        }
    };
    (store_check_ins $a:tt) => {
        fn store_check_ins(
            &self,
            check_ins: &[$crate::CheckInWrite<'_>],
        ) -> impl ::core::future::Future<
            Output = ::core::result::Result<
                ::std::vec::Vec<::core::result::Result<(), $crate::StorageError>>,
                $crate::StorageError,
            >,
        > + Send {
            $crate::__target!(self $a).store_check_ins(check_ins)
        }
    };
    // CommandQueue
    (enqueue_command $a:tt) => {
        fn enqueue_command(
            &self,
            ids: &[$crate::EnrollmentId],
            command: &$crate::mdm_proto::Raw<$crate::mdm_proto::Command>,
            priority: i8,
        ) -> impl ::core::future::Future<
            Output = ::core::result::Result<
                ::std::collections::HashMap<$crate::EnrollmentId, $crate::StorageError>,
                $crate::StorageError,
            >,
        > + Send {
            $crate::__target!(self $a).enqueue_command(ids, command, priority)
        }
    };
    (store_command_report $a:tt) => {
        fn store_command_report(
            &self,
            id: &$crate::EnrollId,
            report: &$crate::mdm_proto::CommandReport,
            raw: &[u8],
        ) -> impl ::core::future::Future<
            Output = ::core::result::Result<$crate::ReportOutcome, $crate::StorageError>,
        > + Send {
            $crate::__target!(self $a).store_command_report(id, report, raw)
        }
    };
    (report_and_next_command $a:tt) => {
        fn report_and_next_command(
            &self,
            id: &$crate::EnrollId,
            report: &$crate::mdm_proto::CommandReport,
            raw: &[u8],
        ) -> impl ::core::future::Future<
            Output = ::core::result::Result<
                (
                    $crate::ReportOutcome,
                    ::core::option::Option<$crate::mdm_proto::Raw<$crate::mdm_proto::Command>>,
                ),
                $crate::StorageError,
            >,
        > + Send {
            $crate::__target!(self $a).report_and_next_command(id, report, raw)
        }
    };
    (retrieve_next_command $a:tt) => {
        fn retrieve_next_command(
            &self,
            id: &$crate::EnrollId,
            skip_not_now: bool,
        ) -> impl ::core::future::Future<
            Output = ::core::result::Result<
                ::core::option::Option<$crate::mdm_proto::Raw<$crate::mdm_proto::Command>>,
                $crate::StorageError,
            >,
        > + Send {
            $crate::__target!(self $a).retrieve_next_command(id, skip_not_now)
        }
    };
    (clear_queue $a:tt) => {
        fn clear_queue(
            &self,
            id: &$crate::EnrollId,
        ) -> impl ::core::future::Future<Output = ::core::result::Result<(), $crate::StorageError>> + Send {
            $crate::__target!(self $a).clear_queue(id)
        }
    };
    // BootstrapTokenStore
    (store_bootstrap_token $a:tt) => {
        fn store_bootstrap_token(
            &self,
            id: &$crate::EnrollId,
            msg: &$crate::mdm_proto::SetBootstrapToken,
        ) -> impl ::core::future::Future<Output = ::core::result::Result<(), $crate::StorageError>> + Send {
            $crate::__target!(self $a).store_bootstrap_token(id, msg)
        }
    };
    (retrieve_bootstrap_token $a:tt) => {
        fn retrieve_bootstrap_token(
            &self,
            id: &$crate::EnrollId,
        ) -> impl ::core::future::Future<
            Output = ::core::result::Result<
                ::core::option::Option<$crate::mdm_proto::BootstrapToken>,
                $crate::StorageError,
            >,
        > + Send {
            $crate::__target!(self $a).retrieve_bootstrap_token(id)
        }
    };
    // TokenUpdateTallyStore
    (retrieve_token_update_tally $a:tt) => {
        fn retrieve_token_update_tally(
            &self,
            id: &$crate::EnrollId,
        ) -> impl ::core::future::Future<Output = ::core::result::Result<u32, $crate::StorageError>> + Send {
            $crate::__target!(self $a).retrieve_token_update_tally(id)
        }
    };
    // PushStore
    (retrieve_push_info $a:tt) => {
        fn retrieve_push_info(
            &self,
            ids: &[$crate::EnrollmentId],
        ) -> impl ::core::future::Future<
            Output = ::core::result::Result<
                ::std::collections::HashMap<$crate::EnrollmentId, $crate::mdm_proto::PushInfo>,
                $crate::StorageError,
            >,
        > + Send {
            $crate::__target!(self $a).retrieve_push_info(ids)
        }
    };
    // PushCertStore
    (is_push_cert_stale $a:tt) => {
        fn is_push_cert_stale(
            &self,
            topic: &str,
            stale_token: i64,
        ) -> impl ::core::future::Future<Output = ::core::result::Result<bool, $crate::StorageError>> + Send {
            $crate::__target!(self $a).is_push_cert_stale(topic, stale_token)
        }
    };
    (retrieve_push_cert $a:tt) => {
        fn retrieve_push_cert(
            &self,
            topic: &str,
        ) -> impl ::core::future::Future<
            Output = ::core::result::Result<
                ::core::option::Option<$crate::StoredPushCert>,
                $crate::StorageError,
            >,
        > + Send {
            $crate::__target!(self $a).retrieve_push_cert(topic)
        }
    };
    (store_push_cert $a:tt) => {
        fn store_push_cert(
            &self,
            topic: &str,
            cert_pem: &str,
            key_pem: &str,
        ) -> impl ::core::future::Future<Output = ::core::result::Result<(), $crate::StorageError>> + Send {
            $crate::__target!(self $a).store_push_cert(topic, cert_pem, key_pem)
        }
    };
    // CertAuthStore
    (has_cert_hash $a:tt) => {
        fn has_cert_hash(
            &self,
            hash: &$crate::mdm_proto::CertHash,
        ) -> impl ::core::future::Future<Output = ::core::result::Result<bool, $crate::StorageError>> + Send {
            $crate::__target!(self $a).has_cert_hash(hash)
        }
    };
    (enrollment_has_cert_hash $a:tt) => {
        fn enrollment_has_cert_hash(
            &self,
            id: &$crate::EnrollId,
        ) -> impl ::core::future::Future<Output = ::core::result::Result<bool, $crate::StorageError>> + Send {
            $crate::__target!(self $a).enrollment_has_cert_hash(id)
        }
    };
    (is_cert_hash_associated $a:tt) => {
        fn is_cert_hash_associated(
            &self,
            id: &$crate::EnrollId,
            hash: &$crate::mdm_proto::CertHash,
        ) -> impl ::core::future::Future<Output = ::core::result::Result<bool, $crate::StorageError>> + Send {
            $crate::__target!(self $a).is_cert_hash_associated(id, hash)
        }
    };
    (bind_cert_hash $a:tt) => {
        fn bind_cert_hash(
            &self,
            id: &$crate::EnrollId,
            hash: &$crate::mdm_proto::CertHash,
            mode: $crate::CertBindMode,
        ) -> impl ::core::future::Future<
            Output = ::core::result::Result<$crate::CertBinding, $crate::StorageError>,
        > + Send {
            $crate::__target!(self $a).bind_cert_hash(id, hash, mode)
        }
    };
    (associate_cert_hash $a:tt) => {
        fn associate_cert_hash(
            &self,
            id: &$crate::EnrollId,
            hash: &$crate::mdm_proto::CertHash,
        ) -> impl ::core::future::Future<Output = ::core::result::Result<(), $crate::StorageError>> + Send {
            $crate::__target!(self $a).associate_cert_hash(id, hash)
        }
    };
    (associate_cert_hashes $a:tt) => {
        fn associate_cert_hashes(
            &self,
            bindings: &[($crate::EnrollId, $crate::mdm_proto::CertHash)],
        ) -> impl ::core::future::Future<Output = ::core::result::Result<(), $crate::StorageError>> + Send {
            $crate::__target!(self $a).associate_cert_hashes(bindings)
        }
    };
    (enrollment_from_cert_hash $a:tt) => {
        fn enrollment_from_cert_hash(
            &self,
            hash: &$crate::mdm_proto::CertHash,
        ) -> impl ::core::future::Future<
            Output = ::core::result::Result<
                ::core::option::Option<$crate::EnrollmentId>,
                $crate::StorageError,
            >,
        > + Send {
            $crate::__target!(self $a).enrollment_from_cert_hash(hash)
        }
    };
    // MigrationStore
    (retrieve_migration_checkins $a:tt) => {
        fn retrieve_migration_checkins(
            &self,
        ) -> $crate::__private::BoxStream<
            '_,
            ::core::result::Result<$crate::__private::Bytes, $crate::StorageError>,
        > {
            $crate::__target!(self $a).retrieve_migration_checkins()
        }
    };
    // InspectionStore
    (list_enrollments $a:tt) => {
        fn list_enrollments(
            &self,
            filter: &$crate::EnrollmentFilter,
            after: ::core::option::Option<&$crate::EnrollmentId>,
            limit: usize,
        ) -> impl ::core::future::Future<
            Output = ::core::result::Result<$crate::EnrollmentPage, $crate::StorageError>,
        > + Send {
            $crate::__target!(self $a).list_enrollments(filter, after, limit)
        }
    };
    (enrollment $a:tt) => {
        fn enrollment(
            &self,
            id: &$crate::EnrollmentId,
        ) -> impl ::core::future::Future<
            Output = ::core::result::Result<
                ::core::option::Option<$crate::StoredEnrollment>,
                $crate::StorageError,
            >,
        > + Send {
            $crate::__target!(self $a).enrollment(id)
        }
    };
    (queued_commands $a:tt) => {
        fn queued_commands(
            &self,
            id: &$crate::EnrollmentId,
            limit: usize,
        ) -> impl ::core::future::Future<
            Output = ::core::result::Result<
                ::std::vec::Vec<$crate::QueuedCommand>,
                $crate::StorageError,
            >,
        > + Send {
            $crate::__target!(self $a).queued_commands(id, limit)
        }
    };
    (remove_queued_command $a:tt) => {
        fn remove_queued_command(
            &self,
            id: &$crate::EnrollmentId,
            command_uuid: &str,
        ) -> impl ::core::future::Future<Output = ::core::result::Result<bool, $crate::StorageError>>
               + Send {
            $crate::__target!(self $a).remove_queued_command(id, command_uuid)
        }
    };
    (clear_enrollment_queue $a:tt) => {
        fn clear_enrollment_queue(
            &self,
            id: &$crate::EnrollmentId,
        ) -> impl ::core::future::Future<Output = ::core::result::Result<u64, $crate::StorageError>>
               + Send {
            $crate::__target!(self $a).clear_enrollment_queue(id)
        }
    };
    (command $a:tt) => {
        fn command(
            &self,
            command_uuid: &str,
        ) -> impl ::core::future::Future<
            Output = ::core::result::Result<
                ::core::option::Option<$crate::StoredCommand>,
                $crate::StorageError,
            >,
        > + Send {
            $crate::__target!(self $a).command(command_uuid)
        }
    };
    (delete_answered_commands_batch $a:tt) => {
        fn delete_answered_commands_batch(
            &self,
            enqueued_before: ::std::time::SystemTime,
            limit: usize,
        ) -> impl ::core::future::Future<Output = ::core::result::Result<u64, $crate::StorageError>>
               + Send {
            $crate::__target!(self $a).delete_answered_commands_batch(enqueued_before, limit)
        }
    };
}

// A shared store is a store: `Arc<MemoryStore>` serves a server, a push service and an API at
// once. (`Box<T>` and `&T` get theirs from `dynosaur`.)
macro_rules! shared_stores_are_stores {
    ($($trait_:ident),+) => {
        $( __forward_impl!([T: ?Sized + crate::$trait_] std::sync::Arc<T> => *: $trait_); )+
    };
}

shared_stores_are_stores!(
    CheckInStore,
    CommandQueue,
    BootstrapTokenStore,
    TokenUpdateTallyStore,
    PushStore,
    PushCertStore,
    CertAuthStore,
    MigrationStore,
    InspectionStore
);
