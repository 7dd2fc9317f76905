//! The operations dashboard served by `arbiter serve`: a page for people supervising the
//! arbiter (the decision feed, the approvals queue, the service graph with a decision's blast
//! radius, the intent in force, agents and their kill switches, headline figures).
//!
//! The page is three static files compiled into the binary, so it works with no network
//! beyond the service itself; it reads and acts through the same HTTP API (and the same
//! bearer tokens) as any other client. What the API needs that the decision loop does not
//! keep otherwise lives here: the recent decisions and the headline figures.

mod assets;
pub mod feed;
pub mod figures;

pub use assets::routes;
pub use feed::{About, DecisionFeed, Filter, Held};
pub use figures::{Adherence, Figures};
