//! Modules: parsing and validation (`environ`), declarations (`info`), constant
//! expressions, and the compiled `Module` handle.

pub mod const_expr;
pub mod environ;
pub mod info;
