//! Status computation: conditions and the runners' merged results.

pub mod conditions;
pub mod results;
pub mod server;
