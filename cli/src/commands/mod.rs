pub mod db;
pub mod image;
