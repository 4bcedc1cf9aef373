//! CloudTask's shared core: what every program agrees on.
//!
//! Layout:
//! - [`model`]: tasks, runs, nodes and their validation — the vocabulary of the product.
//! - [`schedule`]: cron / `@every` parsing and fire-time evaluation with DST rules (Debian cron's; README "Schedules").
//! - [`api`]: JSON wire types of the center's HTTP API.
//! - [`ring`]: the pure, sticky consistent-hash placement of tasks on nodes.
//! - [`coord`] (feature `embedded`): the coordination trait and its in-process backend.
//! - [`clock`] (feature `embedded`): the clock loops take "now" and sleeps from (manual in tests).
//! - [`shutdown`] (feature `embedded`): the one stop signal every long-lived task of a daemon holds.
//! - [`durable`] (feature `embedded`): how the daemons replace files (atomic, fsynced) and set
//!   damaged ones aside.
//! - [`tls`] (feature `http-client`): the rustls provider and the CA roots HTTP clients trust.
//! - `generated` (feature `generated`, tests only): checks man pages and completions are current.
//!
//! Architecture invariant: nothing here does I/O except the `coord` backends, `tls` (it reads
//! a CA file), `durable` (the
//! daemons' file-writing rules, which the embedded backend's claims file follows too) and the
//! test-only `generated` check.

pub mod api;
pub mod backoff;
#[cfg(feature = "embedded")]
pub mod clock;
#[cfg(feature = "embedded")]
pub mod coord;
#[cfg(feature = "embedded")]
pub mod durable;
pub mod duration;
#[cfg(feature = "generated")]
pub mod generated;
pub mod model;
#[cfg(feature = "postgres-server")]
pub mod postgres_server;
pub mod ring;
pub mod schedule;
#[cfg(feature = "postgres-server")]
pub mod server_process;
#[cfg(feature = "embedded")]
pub mod shutdown;
#[cfg(feature = "http-client")]
pub mod tls;

pub use duration::parse_duration_ms;
pub use model::*;
