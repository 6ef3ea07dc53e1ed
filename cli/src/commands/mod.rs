pub mod db;
pub mod defectdojo;
pub mod dockerfile;
pub mod fleet;
pub mod image;
pub mod query;
pub mod sweep;
