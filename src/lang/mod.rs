//! The Tova front end: a tolerant scanner for top-level blocks and a precise deploy-block parser.

pub(crate) mod codes;
pub(crate) mod deploy_parser;
pub(crate) mod facts;
pub(crate) mod lexer;
pub(crate) mod scanner;
pub(crate) mod token;
pub(crate) mod tova_toml;

/// `berth explain CODE`: prints the long text of a diagnostic code.
pub(crate) fn explain(code: &str) -> i32 {
    match codes::lookup(code) {
        Some(entry) => {
            print!("{}", codes::render(entry));
            0
        }
        None => {
            eprintln!("error: unknown diagnostic code `{code}`; known codes:");
            for entry in codes::CODES {
                eprintln!("  {}  {}", entry.code, entry.title);
            }
            1
        }
    }
}
