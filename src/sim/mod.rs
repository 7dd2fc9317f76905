//! Sales-surge simulation: replays agents' collisions on a simulated shop under several
//! coordination strategies.

pub mod model;
pub mod scenario;
pub mod traffic;
