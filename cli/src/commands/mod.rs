pub mod db;
pub mod fleet;
pub mod image;
