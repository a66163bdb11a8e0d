//! The tolerant block finder: locates the top-level `deploy`, `server`,
//! `browser`/`client`, `security`, `data` and `auth` blocks of any Tova file and
//! skips everything else. Brackets are balanced over lexer tokens, so text in
//! strings, comments and regexes never shifts a block boundary.

use super::lexer::lex;
use super::token::{Token, TokenKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum BlockKind {
    Deploy,
    Server,
    /// `browser { }` or its older spelling `client { }`.
    Browser,
    Security,
    Data,
    /// The top-level `auth { }` block (providers, secret, protected routes).
    Auth,
}

impl BlockKind {
    fn from_word(word: &str) -> Option<BlockKind> {
        Some(match word {
            "deploy" => BlockKind::Deploy,
            "server" => BlockKind::Server,
            "browser" | "client" => BlockKind::Browser,
            "security" => BlockKind::Security,
            "data" => BlockKind::Data,
            "auth" => BlockKind::Auth,
            _ => return None,
        })
    }
}

/// One top-level block: token indices of its keyword, optional name, `{` and `}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Block {
    pub(crate) kind: BlockKind,
    pub(crate) keyword: usize,
    pub(crate) name: Option<usize>,
    pub(crate) open: usize,
    /// `None` when the file ends before the block closes.
    pub(crate) close: Option<usize>,
}

impl Block {
    /// Token indices strictly inside the braces.
    pub(crate) fn body(&self, tokens: &[Token]) -> std::ops::Range<usize> {
        self.open + 1..self.close.unwrap_or(tokens.len())
    }
}

#[derive(Debug)]
pub(crate) struct Scanned {
    pub(crate) tokens: Vec<Token>,
    pub(crate) blocks: Vec<Block>,
    pub(crate) open_comments: Vec<(usize, usize)>,
}

pub(crate) fn scan(src: &str) -> Scanned {
    let lexed = lex(src);
    let tokens = lexed.tokens;
    let mut blocks = Vec::new();
    let mut depth: usize = 0;
    let mut current: Option<Block> = None;
    let mut i = 0;
    while i < tokens.len() {
        let t = &tokens[i];
        if t.kind == TokenKind::Punct {
            match src.as_bytes()[t.start] {
                b'{' | b'(' | b'[' => depth += 1,
                b'}' | b')' | b']' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        if let Some(mut block) = current.take() {
                            block.close = Some(i);
                            blocks.push(block);
                        }
                    }
                }
                _ => {}
            }
            i += 1;
            continue;
        }
        if depth == 0 && t.kind == TokenKind::Ident && starts_statement(src, &tokens, i) {
            if let Some(kind) = BlockKind::from_word(t.text(src)) {
                let mut j = i + 1;
                let mut name = None;
                if !matches!(kind, BlockKind::Data | BlockKind::Auth)
                    && tokens.get(j).is_some_and(|n| n.kind == TokenKind::Str)
                {
                    name = Some(j);
                    j += 1;
                }
                if tokens.get(j).is_some_and(|n| n.is_punct(src, '{')) {
                    current = Some(Block {
                        kind,
                        keyword: i,
                        name,
                        open: j,
                        close: None,
                    });
                    depth = 1;
                    i = j + 1;
                    continue;
                }
            }
        }
        i += 1;
    }
    if let Some(block) = current {
        blocks.push(block);
    }
    Scanned {
        tokens,
        blocks,
        open_comments: lexed.open_comments,
    }
}

/// A block keyword starts a statement: first token, on a new line, or after `}` / `;`.
fn starts_statement(src: &str, tokens: &[Token], i: usize) -> bool {
    if i == 0 {
        return true;
    }
    let prev = &tokens[i - 1];
    prev.line < tokens[i].line || prev.is_punct(src, '}') || prev.is_punct(src, ';')
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn found(src: &str) -> Vec<(BlockKind, Option<String>)> {
        let s = scan(src);
        s.blocks
            .iter()
            .map(|b| {
                (
                    b.kind,
                    b.name
                        .map(|n| s.tokens[n].value.clone().unwrap_or_default()),
                )
            })
            .collect()
    }

    #[test]
    fn finds_top_level_blocks_only() {
        let src = r#"
data = [1, 2]
fn f() { server { } }
server "api" {
  route GET "/" => fn() { "deploy { }" }
  data { }
}
client { <p>"}"</p> }
data {
  source users = read("users.csv")
}
deploy "prod" { server: "a" }
"#;
        assert_eq!(
            found(src),
            vec![
                (BlockKind::Server, Some("api".into())),
                (BlockKind::Browser, None),
                (BlockKind::Data, None),
                (BlockKind::Deploy, Some("prod".into())),
            ]
        );
    }

    #[test]
    fn unterminated_block_runs_to_end() {
        let s = scan("security {\n auth jwt {");
        assert_eq!(s.blocks.len(), 1);
        assert_eq!(s.blocks[0].close, None);
    }

    /// Every committed sample: no panic, and every line that opens a top-level
    /// block at column 1 is found (the samples are written that way).
    #[test]
    fn scans_committed_samples() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tova/samples");
        let checked = check_corpus(&dir);
        assert!(checked >= 8, "expected at least 8 samples, found {checked}");
        let expect: &[(&str, &[(BlockKind, usize)])] = &[
            (
                "01_fullstack.tova",
                &[
                    (BlockKind::Server, 6),
                    (BlockKind::Browser, 17),
                    (BlockKind::Deploy, 28),
                ],
            ),
            ("02_strings.tova", &[(BlockKind::Server, 15)]),
            ("03_regex.tova", &[(BlockKind::Security, 9)]),
            (
                "04_jsx.tova",
                &[(BlockKind::Browser, 1), (BlockKind::Data, 18)],
            ),
            ("05_not_blocks.tova", &[]),
            ("06_realtime.tova", &[(BlockKind::Server, 1)]),
            (
                "07_deploys.tova",
                &[(BlockKind::Deploy, 1), (BlockKind::Deploy, 8)],
            ),
            (
                "08_edge.tova",
                &[(BlockKind::Server, 12), (BlockKind::Browser, 13)],
            ),
            (
                "09_unterminated.tova",
                &[(BlockKind::Security, 3), (BlockKind::Server, 7)],
            ),
        ];
        for (name, blocks) in expect {
            let src = std::fs::read_to_string(dir.join(name)).unwrap();
            let s = scan(&src);
            let got: Vec<(BlockKind, usize)> = s
                .blocks
                .iter()
                .map(|b| (b.kind, s.tokens[b.keyword].line))
                .collect();
            assert_eq!(&got, blocks, "{name}");
        }
    }

    /// `BERTH_TOVA_CORPUS=/some/dir cargo test --lib lang::scanner` runs the same check over any tree.
    #[test]
    fn scans_external_corpus() {
        if let Some(dir) = std::env::var_os("BERTH_TOVA_CORPUS") {
            let checked = check_corpus(Path::new(&dir));
            eprintln!("scanned {checked} files");
            assert!(checked > 0);
        }
    }

    fn check_corpus(dir: &Path) -> usize {
        let mut files = Vec::new();
        collect(dir, &mut files);
        files.sort();
        let header = regex::Regex::new(
            r#"^(deploy|server|browser|client|security|data|auth)( +"[^"]*")? *\{"#,
        )
        .unwrap();
        let mut failures = Vec::new();
        for file in &files {
            let src = std::fs::read_to_string(file).unwrap();
            let s = scan(&src);
            let lines: Vec<usize> = s.blocks.iter().map(|b| s.tokens[b.keyword].line).collect();
            for (n, line) in src.lines().enumerate() {
                if header.is_match(line) && !lines.contains(&(n + 1)) {
                    failures.push(format!(
                        "{}:{}: block not found: {line}",
                        file.display(),
                        n + 1
                    ));
                }
            }
            for b in &s.blocks {
                // The precise parser and the fact walk must not panic on any block either.
                if b.kind == BlockKind::Deploy {
                    let _ = crate::lang::deploy_parser::parse(file, &src, &s.tokens, b);
                } else {
                    let _ = crate::lang::facts::extract(file, &src, &s.tokens, b);
                }
                let t = &s.tokens[b.keyword];
                let line = src.lines().nth(t.line - 1).unwrap_or("");
                if t.col != 1 || !header.is_match(line) {
                    failures.push(format!(
                        "{}:{}: unexpected block: {line}",
                        file.display(),
                        t.line
                    ));
                }
                if b.close.is_none() && !file.to_string_lossy().contains("unterminated") {
                    failures.push(format!("{}:{}: block never closes", file.display(), t.line));
                } else if let Some(c) = b.close {
                    let close = &s.tokens[c];
                    let line = src.lines().nth(close.line - 1).unwrap_or("");
                    if close.col != 1 && !line.trim_start().starts_with(&header_word(&src, t)) {
                        failures.push(format!(
                            "{}:{}: block closes at {}:{} (not column 1)",
                            file.display(),
                            t.line,
                            close.line,
                            close.col
                        ));
                    }
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        files.len()
    }

    fn header_word(src: &str, t: &Token) -> String {
        t.text(src).to_owned()
    }

    fn collect(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                collect(&path, out);
            } else if path.extension().is_some_and(|e| e == "tova") {
                out.push(path);
            }
        }
    }
}
