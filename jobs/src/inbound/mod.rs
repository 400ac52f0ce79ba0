pub mod html;
pub mod parse;
pub mod quote;
