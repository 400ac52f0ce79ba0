pub mod charset;
pub mod html;
pub mod parse;
pub mod quote;
pub mod robots;
