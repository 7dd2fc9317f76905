//! arbiter: one place where autonomous operations agents' proposed actions meet before they
//! happen, and are decided against declared business intent.
//!
//! See `ARCHITECTURE.md` for the map of modules and the flow of a proposal.

pub mod api;
pub mod approval;
pub mod audit;
pub mod bus;
pub mod contract;
pub mod controls;
pub mod coordinator;
pub mod dashboard;
pub mod engine;
pub mod grants;
pub mod graph;
pub mod hash;
pub mod health;
pub mod intent;
pub mod loadgen;
pub mod replay;
pub mod rollback;
pub mod service;
pub mod sim;
pub mod snapshot;
pub mod source;
pub mod synthetic;
pub mod track;
pub mod world;
