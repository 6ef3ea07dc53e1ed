pub mod db;
pub mod dockerfile;
pub mod fleet;
pub mod image;
