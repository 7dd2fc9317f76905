//! One module per subcommand: read files, call the library, print.

pub mod audit;
pub mod check;
pub mod decide;
pub mod loadgen;
pub mod replay;
pub mod schema;
pub mod serve;
pub mod simulate;
