//! End-to-end tests against real `cloudtask-center --standalone` processes. One binary with
//! modules, to link once.

#![allow(clippy::unwrap_used)]

mod alerts;
mod api;
mod authz;
mod cli;
mod cluster;
mod console;
mod ctl;
mod durability;
mod full_disk;
mod isolation;
mod limits;
mod metrics;
mod multi_center;
mod postgres_tls;
mod reaping;
mod restart;
mod run_now;
mod secrets;
mod service_files;
mod shutdown;
mod store_move;
mod tls;
mod zk_acl;
mod zk_backend;
