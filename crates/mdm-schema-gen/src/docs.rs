//! Apple's schema text as rustdoc Markdown: `'quoted'` names as code, characters Markdown or
//! rustdoc would misread escaped, indented lines unindented (they would be code blocks, hence
//! doctests), paragraphs wrapped.

/// Width of a doc line, before its indentation and `/// `.
const WIDTH: usize = 92;

/// Doc-comment lines (`prefix` then the text: `///`, `//!`), indented by `indent` spaces.
pub fn comment(text: &str, prefix: &str, indent: usize) -> String {
    let pad = " ".repeat(indent);
    let mut out = String::new();
    for line in markdown(text, WIDTH.saturating_sub(indent)) {
        if line.is_empty() {
            out.push_str(&format!("{pad}{prefix}\n"));
        } else {
            out.push_str(&format!("{pad}{prefix} {line}\n"));
        }
    }
    out
}

/// The text as wrapped Markdown lines.
pub fn markdown(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for paragraph in paragraphs(text) {
        if !lines.is_empty() {
            lines.push(String::new());
        }
        for item in paragraph {
            let (marker, body) = match item.strip_prefix("* ").or_else(|| item.strip_prefix("- ")) {
                Some(body) => ("* ", body),
                None => ("", item.as_str()),
            };
            let indent = if marker.is_empty() { "" } else { "  " };
            let mut line = marker.to_owned();
            let mut first = true;
            for word in escape(body).split_whitespace() {
                if !first && line.len() + 1 + word.len() > width {
                    lines.push(std::mem::take(&mut line));
                    line.push_str(indent);
                    first = true;
                }
                if !first {
                    line.push(' ');
                }
                line.push_str(word);
                first = false;
            }
            lines.push(line);
        }
    }
    lines
}

/// Paragraphs (split at blank lines), each a list of items: bullets on their own, other lines
/// joined.
fn paragraphs(text: &str) -> Vec<Vec<String>> {
    let mut paragraphs: Vec<Vec<String>> = Vec::new();
    let mut current: Vec<String> = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() {
            if !current.is_empty() {
                paragraphs.push(std::mem::take(&mut current));
            }
            continue;
        }
        let is_bullet = line.starts_with("* ") || line.starts_with("- ");
        match current.last_mut() {
            Some(last) if !is_bullet => {
                last.push(' ');
                last.push_str(line);
            }
            _ => current.push(line.to_owned()),
        }
    }
    if !current.is_empty() {
        paragraphs.push(current);
    }
    paragraphs
}

/// Markdown-safe text: `'name'` as `` `name` ``, brackets and angle brackets escaped (except
/// `<https://…>` links, and bare URLs made links).
pub fn escape(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let prev_is_word = i > 0 && chars[i - 1].is_alphanumeric();
        if c == '\'' && !prev_is_word {
            // A quoted name: no white space inside, not followed by a letter.
            if let Some(len) = chars[i + 1..].iter().position(|&q| q == '\'') {
                let inner: String = chars[i + 1..i + 1 + len].iter().collect();
                let after = chars.get(i + 2 + len);
                if !inner.is_empty()
                    && !inner.contains(char::is_whitespace)
                    && !inner.contains('`')
                    && !after.is_some_and(|a| a.is_alphanumeric())
                {
                    out.push('`');
                    out.push_str(&inner);
                    out.push('`');
                    i += len + 2;
                    continue;
                }
            }
        }
        if c == '`' {
            // A code span: copied as is up to its end.
            if let Some(len) = chars[i + 1..].iter().position(|&q| q == '`') {
                out.extend(&chars[i..i + len + 2]);
                i += len + 2;
                continue;
            }
            out.push_str("\\`");
            i += 1;
            continue;
        }
        if c == '<' {
            let rest: String = chars[i..].iter().take(9).collect();
            if (rest.starts_with("<http://") || rest.starts_with("<https://"))
                && let Some(len) = chars[i..].iter().position(|&q| q == '>')
            {
                out.extend(&chars[i..=i + len]);
                i += len + 1;
                continue;
            }
        }
        if !prev_is_word && let Some(url) = bare_url(&chars[i..]) {
            out.push('<');
            out.push_str(&url);
            out.push('>');
            i += url.chars().count();
            continue;
        }
        match c {
            '[' | ']' | '<' | '>' | '*' | '#' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '&' if chars.get(i + 1) == Some(&'#') => {
                out.push_str("&amp;#");
                i += 1;
            }
            _ => out.push(c),
        }
        i += 1;
    }
    out
}

/// A URL starting here, without the punctuation that ends its sentence.
fn bare_url(chars: &[char]) -> Option<String> {
    let start: String = chars.iter().take(8).collect();
    if !(start.starts_with("http://") || start.starts_with("https://")) {
        return None;
    }
    let mut url: String = chars
        .iter()
        .take_while(|c| !c.is_whitespace() && **c != '>' && **c != '\'')
        .collect();
    while url.ends_with(['.', ',', ')', ';', ':']) {
        url.pop();
    }
    Some(url)
}

/// The first sentence of `text` (for one-line docs).
pub fn first_sentence(text: &str) -> String {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match text.find(". ") {
        Some(end) => text[..=end].to_owned(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_names_become_code_and_apostrophes_stay() {
        assert_eq!(
            escape("If 'true', the device's app isn't removed; see 'InstallAsManaged'."),
            "If `true`, the device's app isn't removed; see `InstallAsManaged`."
        );
        assert_eq!(
            escape("users' devices and 'two words'"),
            "users' devices and 'two words'"
        );
    }

    #[test]
    fn markdown_and_rustdoc_characters_are_escaped() {
        assert_eq!(
            escape("a <string> [1] *b* x_y #1"),
            "a \\<string\\> \\[1\\] \\*b\\* x_y \\#1"
        );
        assert_eq!(escape("'a_b'"), "`a_b`");
        assert_eq!(
            escape("see <https://example.com/a_b>."),
            "see <https://example.com/a_b>."
        );
        assert_eq!(
            escape("see https://example.com/x."),
            "see <https://example.com/x>."
        );
        assert_eq!(escape("line&#10break"), "line&amp;#10break");
    }

    #[test]
    fn paragraphs_and_bullets_are_wrapped_and_never_indented() {
        let text = "The values:\n\n* 'A': the first value, which has a rather long explanation.\n    * 'B': indented.\n\n        code-like line";
        let lines = markdown(text, 40);
        assert_eq!(
            lines,
            [
                "The values:",
                "",
                "* `A`: the first value, which has a",
                "  rather long explanation.",
                "* `B`: indented.",
                "",
                "code-like line",
            ]
        );
        assert_eq!(
            comment("One.\n\nTwo.", "///", 4),
            "    /// One.\n    ///\n    /// Two.\n"
        );
    }

    #[test]
    fn first_sentences_stop_at_the_first_period() {
        assert_eq!(first_sentence("One. Two."), "One.");
        assert_eq!(first_sentence("No period"), "No period");
    }
}
