//! The user documentation holds together: every relative link in `README.md`,
//! `CHANGELOG.md` and `docs/` (inline `[text](target)`, images, and reference-style
//! `[text][label]` with `[label]: target`) names a file or directory that exists inside
//! the repository; no link points outside the repository or into `shared/research`; and
//! the README stays a front door (at most `README_MAX_LINES` lines).
//!
//! Web links (`http://`, `https://`) and `mailto:` are not followed. A `#anchor` is
//! stripped (only the file is checked). Links inside fenced code blocks and inline code
//! spans are not links and are ignored. `the_checker_finds_broken_links` feeds the
//! checker a document with every kind of mistake, so this test cannot pass by finding
//! nothing.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

const README_MAX_LINES: usize = 320;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The Markdown files whose links are checked: README.md, CHANGELOG.md, docs/**/*.md.
fn documents() -> Vec<PathBuf> {
    let mut files = vec![root().join("README.md"), root().join("CHANGELOG.md")];
    let mut dirs = vec![root().join("docs")];
    while let Some(dir) = dirs.pop() {
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// A link found in a document: where it is (1-based line) and what it points to.
#[derive(Debug)]
struct Link {
    line: usize,
    target: String,
}

/// Splits a document into prose blocks (runs of non-blank lines outside fenced code
/// blocks), each with the number of its first line. Link text may wrap across lines
/// inside a block; a blank line or a fence ends it.
fn prose_blocks(text: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    let mut fence: Option<(char, usize)> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let marker = trimmed.chars().next().filter(|c| *c == '`' || *c == '~');
        let run = marker.map_or(0, |c| trimmed.chars().take_while(|x| *x == c).count());
        match fence {
            Some((c, n)) => {
                // A closing fence: the same character, at least as long, nothing after it.
                if marker == Some(c) && run >= n && trimmed[run..].trim().is_empty() {
                    fence = None;
                }
                continue;
            }
            None if run >= 3 => {
                fence = Some((marker.unwrap(), run));
                blocks.extend(current.take());
                continue;
            }
            None => {}
        }
        if line.trim().is_empty() {
            blocks.extend(current.take());
        } else {
            let block = current.get_or_insert_with(|| (i + 1, String::new()));
            block.1.push_str(line);
            block.1.push('\n');
        }
    }
    blocks.extend(current);
    blocks
}

/// Blanks out inline code spans (a run of N backticks up to the next run of exactly N),
/// keeping newlines so that offsets still map to lines. An unmatched run is literal.
fn without_code_spans(block: &str) -> String {
    let b: Vec<char> = block.chars().collect();
    let mut out = b.clone();
    let mut i = 0;
    while i < b.len() {
        if b[i] == '\\' {
            i += 2;
            continue;
        }
        if b[i] != '`' {
            i += 1;
            continue;
        }
        let n = b[i..].iter().take_while(|c| **c == '`').count();
        let mut j = i + n;
        let mut close = None;
        while j < b.len() {
            if b[j] == '`' {
                let m = b[j..].iter().take_while(|c| **c == '`').count();
                if m == n {
                    close = Some(j + m);
                    break;
                }
                j += m;
            } else {
                j += 1;
            }
        }
        match close {
            Some(end) => {
                for c in &mut out[i..end] {
                    if *c != '\n' {
                        *c = ' ';
                    }
                }
                i = end;
            }
            None => i += n,
        }
    }
    out.into_iter().collect()
}

/// The index just past the `close` that matches the `open` at `start`, counting nesting
/// and skipping backslash escapes.
fn matching(chars: &[char], start: usize, open: char, close: char) -> Option<usize> {
    let mut depth = 0;
    let mut i = start;
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 1,
            c if c == open => depth += 1,
            c if c == close => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

fn normalize_label(label: &str) -> String {
    label
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// The destination of an inline link, from the text between its parentheses: `<...>`
/// or everything up to the first whitespace (a title may follow).
fn destination(inside: &str) -> String {
    let inside = inside.trim();
    if let Some(rest) = inside.strip_prefix('<') {
        rest.split('>').next().unwrap_or("").to_owned()
    } else {
        inside.split_whitespace().next().unwrap_or("").to_owned()
    }
}

/// Every link of a document, and every reference (`[text][label]`) whose label has no
/// definition (returned as problems).
fn links(text: &str) -> (Vec<Link>, Vec<String>) {
    let mut found = Vec::new();
    let mut problems = Vec::new();
    let blocks = prose_blocks(text);

    // Reference definitions: `[label]: target` at the start of a line (up to 3 spaces).
    let mut definitions: HashMap<String, (usize, String)> = HashMap::new();
    let mut prose = Vec::new();
    for (first_line, block) in &blocks {
        let mut kept = String::new();
        for (k, line) in block.lines().enumerate() {
            let indent = line.len() - line.trim_start_matches(' ').len();
            let t = line.trim_start_matches(' ');
            let definition = (indent <= 3 && t.starts_with('['))
                .then(|| t.find("]:").map(|end| (&t[1..end], t[end + 2..].trim())))
                .flatten()
                .filter(|(label, target)| !label.is_empty() && !target.is_empty());
            if let Some((label, target)) = definition {
                definitions.insert(
                    normalize_label(label),
                    (first_line + k, destination(target)),
                );
                kept.push('\n');
            } else {
                kept.push_str(line);
                kept.push('\n');
            }
        }
        prose.push((*first_line, kept));
    }
    for (line, target) in definitions.values() {
        found.push(Link {
            line: *line,
            target: target.clone(),
        });
    }

    for (first_line, block) in prose {
        let chars: Vec<char> = without_code_spans(&block).chars().collect();
        let line_of = |at: usize| first_line + chars[..at].iter().filter(|c| **c == '\n').count();
        let mut i = 0;
        while i < chars.len() {
            if chars[i] == '\\' {
                i += 2;
                continue;
            }
            if chars[i] != '[' {
                i += 1;
                continue;
            }
            let Some(after_text) = matching(&chars, i, '[', ']') else {
                i += 1;
                continue;
            };
            let link_text: String = chars[i + 1..after_text - 1].iter().collect();
            match chars.get(after_text) {
                Some('(') => {
                    if let Some(end) = matching(&chars, after_text, '(', ')') {
                        let inside: String = chars[after_text + 1..end - 1].iter().collect();
                        found.push(Link {
                            line: line_of(i),
                            target: destination(&inside),
                        });
                    }
                }
                Some('[') => {
                    if let Some(end) = matching(&chars, after_text, '[', ']') {
                        let label: String = chars[after_text + 1..end - 1].iter().collect();
                        let label = if label.trim().is_empty() {
                            &link_text
                        } else {
                            &label
                        };
                        if !definitions.contains_key(&normalize_label(label)) {
                            problems.push(format!(
                                "line {}: reference [{}][{}] has no definition",
                                line_of(i),
                                link_text,
                                label
                            ));
                        }
                    }
                }
                // `[label]` alone is a link only when the label is defined (then its
                // definition was checked above); otherwise it is plain text like `a[i]`.
                _ => {}
            }
            i += 1;
        }
    }
    found.sort_by_key(|l| l.line);
    (found, problems)
}

/// Resolves `target` (relative to `dir`) lexically; None when it climbs above `root`.
fn resolve(root: &Path, dir: &Path, target: &str) -> Option<PathBuf> {
    let relative = dir.strip_prefix(root).ok()?;
    let mut parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    for component in Path::new(target).components() {
        match component {
            Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(
        parts
            .iter()
            .fold(root.to_path_buf(), |p, part| p.join(part)),
    )
}

/// Decodes `%XX` escapes (a link to `a%20b.md` names `a b.md`).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Every problem with the links of the document `file` (its text given), as messages.
fn problems(root: &Path, file: &Path, text: &str) -> Vec<String> {
    let name = file
        .strip_prefix(root)
        .unwrap_or(file)
        .display()
        .to_string();
    let dir = file.parent().unwrap();
    let (found, mut bad) = links(text);
    for link in found {
        let t = link.target.as_str();
        let at = format!("line {}: ({t})", link.line);
        if t.contains("shared/research") {
            bad.push(format!(
                "{at}: points into shared/research, outside the repository"
            ));
            continue;
        }
        let lower = t.to_ascii_lowercase();
        if lower.starts_with("http://")
            || lower.starts_with("https://")
            || lower.starts_with("mailto:")
        {
            continue;
        }
        if t.is_empty() {
            bad.push(format!("{at}: empty link"));
            continue;
        }
        if t.contains("://") {
            bad.push(format!("{at}: a URL scheme other than http(s) or mailto"));
            continue;
        }
        let path = percent_decode(t.split(['#', '?']).next().unwrap());
        if path.is_empty() {
            continue; // `#anchor` in the same document
        }
        if path.starts_with('/') {
            bad.push(format!(
                "{at}: absolute path; use a path relative to the document"
            ));
            continue;
        }
        match resolve(root, dir, &path) {
            None => bad.push(format!("{at}: points outside the repository")),
            Some(resolved) if !resolved.exists() => bad.push(format!(
                "{at}: {} does not exist",
                resolved.strip_prefix(root).unwrap().display()
            )),
            Some(_) => {}
        }
    }
    bad.into_iter().map(|p| format!("{name}: {p}")).collect()
}

#[test]
fn every_relative_link_in_the_docs_resolves() {
    let mut all = Vec::new();
    let mut checked = 0;
    for file in documents() {
        let text = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
        checked += links(&text).0.len();
        all.extend(problems(root(), &file, &text));
    }
    assert!(
        checked > 20,
        "only {checked} links found: is the parser broken?"
    );
    assert!(all.is_empty(), "broken links:\n  {}", all.join("\n  "));
}

#[test]
fn the_readme_is_a_front_door() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let lines = readme.lines().count();
    assert!(
        lines <= README_MAX_LINES,
        "README.md has {lines} lines, more than {README_MAX_LINES}: move details to docs/"
    );
}

#[test]
fn the_checker_finds_broken_links() {
    let doc = "\
# A document with every kind of mistake

Good: [concepts](concepts.md), [same file](#top), [dir](../benches), [web](https://example.com),
[mail](mailto:a@b.c), [a title](concepts.md \"Concepts\"), [angle](<concepts.md>),
[wrapped
across lines](concepts.md#regions), ![an image](../benches/peers/results/waiters.png),
[a `code` text](concepts.md), [ok ref][good], [good][], a[i] and [plain text].

Bad: [missing](no-such-file.md), [outside](../../etc/passwd),
[research](../shared/research/limits.md), [absolute](/etc/passwd),
[broken
wrap](no-such-wrap.md#x), [bad ref][bad], [undefined][nowhere], ![image](missing.png).

`[in a code span](no-such-span.md)` is not a link.

```md
[in a fence](no-such-fence.md)
```

  ~~~
  [in a tilde fence](no-such-tilde.md)
  ~~~

[good]: concepts.md
[bad]: no-such-ref.md
";
    let file = root().join("docs/example.md");
    let found = problems(root(), &file, doc);
    let report = found.join("\n");
    for expected in [
        "(no-such-file.md): docs/no-such-file.md does not exist",
        "(../../etc/passwd): points outside the repository",
        "(../shared/research/limits.md): points into shared/research",
        "(/etc/passwd): absolute path",
        "(no-such-wrap.md#x): docs/no-such-wrap.md does not exist",
        "(no-such-ref.md): docs/no-such-ref.md does not exist",
        "reference [undefined][nowhere] has no definition",
        "(missing.png): docs/missing.png does not exist",
    ] {
        assert!(
            report.contains(expected),
            "not reported: {expected}\nreport:\n{report}"
        );
    }
    assert_eq!(found.len(), 8, "unexpected reports:\n{report}");
    assert!(found
        .iter()
        .all(|p| p.starts_with("docs/example.md: line ")));
    assert!(
        report.contains("line 11: (no-such-wrap.md#x)"),
        "line numbers:\n{report}"
    );
}
