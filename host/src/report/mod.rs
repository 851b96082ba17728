//! Pictures of tiles.
