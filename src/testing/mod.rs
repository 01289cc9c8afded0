//! Test support, compiled only for tests (`cfg(test)`) and with the `testing` feature that the
//! integration tests and benchmarks enable: builder-style fixtures, the controllers' contexts
//! for tests, one fake Kubernetes API, an in-memory Temporal, and a call counter. The shipped
//! library holds none of it.

pub mod contexts;
pub mod counting;
pub mod curator_api;
pub mod fixtures;
pub mod kube;
pub mod schedules;
