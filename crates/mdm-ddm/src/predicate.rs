//! A checker for the `Predicate` of an activation: does the text parse as an `NSPredicate`
//! format string?
//!
//! A device that cannot parse an activation's predicate reports
//! `Error.UnableToParsePredicate` and leaves the activation's configurations uninstalled, so
//! a server refuses such a predicate when the declaration is stored, with the byte offset and
//! what was expected there.
//!
//! The grammar is that of Apple's *Predicate Format String Syntax*, as DDM uses it:
//!
//! * compound predicates `AND`/`&&`, `OR`/`||`, `NOT`/`!`, parentheses, `TRUEPREDICATE`,
//!   `FALSEPREDICATE`;
//! * comparisons `==` `=` `!=` `<>` `<` `<=` `=<` `>` `>=` `=>`, `BEGINSWITH`, `ENDSWITH`,
//!   `CONTAINS`, `LIKE`, `MATCHES`, `IN`, `BETWEEN`, `UTI-CONFORMS-TO`, `UTI-EQUALS`, each
//!   with optional modifiers `[c]`, `[d]`, `[cd]` (and `n`, `l`), and an optional aggregate
//!   qualifier `ANY`/`SOME`/`ALL`/`NONE` before the left side;
//! * expressions: string literals (single or double quotes, backslash escapes), numbers
//!   (decimal, exponent, `0x`, `0o`, `0b`), `TRUE`/`YES`, `FALSE`/`NO`, `NULL`/`NIL`, `SELF`,
//!   arrays `{…}`, key paths (`a.b.@count`, `#`-escaped reserved words), the DDM references
//!   `@status(device.operating-system.family)` and `@property(name)`, indexes `[0]`,
//!   `[FIRST]`, `[LAST]`, `[SIZE]`, function calls `name(…)` and `FUNCTION(…)`, and arithmetic
//!   `+ - * / **`.
//!
//! Refused although `NSPredicate` knows them, because a declaration's predicate is evaluated
//! without arguments: format arguments (`%@`, `%K`, …) and substitution variables (`$name`,
//! hence `SUBQUERY`). Keywords are case-insensitive.
//!
//! The parser is a recursive descent whose every cycle of recursion passes a depth counter
//! bounded by [`MAX_PREDICATE_DEPTH`], on a text bounded by [`MAX_PREDICATE_BYTES`]: its
//! stack and time are bounded whatever the input.

use std::fmt;

/// The longest predicate accepted, in bytes.
pub const MAX_PREDICATE_BYTES: usize = 8 * 1024;

/// The deepest nesting accepted: parentheses, arrays, indexes, function arguments, `NOT` and
/// unary minus each count one level.
pub const MAX_PREDICATE_DEPTH: usize = 32;

/// Why a predicate was refused: where, and what went wrong there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("predicate refused at byte {offset}: {kind}")]
pub struct PredicateError {
    /// The byte offset into the predicate text where the problem is.
    pub offset: usize,
    /// The problem.
    pub kind: PredicateErrorKind,
}

/// What is wrong with a predicate.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PredicateErrorKind {
    /// The text is empty or only whitespace.
    Empty,
    /// The text is longer than [`MAX_PREDICATE_BYTES`] (reported at offset 0).
    TooLong {
        /// Its length in bytes.
        length: usize,
    },
    /// The nesting goes deeper than [`MAX_PREDICATE_DEPTH`].
    TooDeep,
    /// Something else was expected here.
    Expected {
        /// What was expected.
        expected: PredicateExpected,
        /// What was found.
        found: PredicateFound,
    },
    /// A string literal has no closing quote.
    UnterminatedString,
    /// A number is malformed (`0x` without digits, `1e`, `12abc`).
    InvalidNumber,
    /// A character that starts no token.
    UnexpectedCharacter {
        /// The character.
        character: char,
    },
    /// A format argument (`%@`, `%K`, `%d`…): a declaration's predicate has no arguments.
    FormatArgument,
    /// A substitution variable (`$name`): a declaration's predicate has no variables.
    Variable,
    /// `SUBQUERY`, which needs a substitution variable.
    Subquery,
    /// A comparison modifier other than `c`, `d`, `n` and `l`.
    UnknownModifier {
        /// The modifier letter.
        modifier: char,
    },
}

/// What a predicate parser expected where it stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PredicateExpected {
    /// A predicate: a comparison, `NOT …`, `(…)`, `TRUEPREDICATE`, `FALSEPREDICATE`.
    Predicate,
    /// An expression: a literal, a key path, an array, a function call, `(…)`.
    Expression,
    /// A comparison operator (`==`, `CONTAINS`, `IN`, …) after an expression.
    ComparisonOperator,
    /// `)`.
    ClosingParenthesis,
    /// `}` or `,` in an array.
    ClosingBrace,
    /// `]`.
    ClosingBracket,
    /// `,` or `)` in a function call.
    ArgumentSeparator,
    /// A key after `.` in a key path.
    Key,
    /// A status item or property name in `@status(…)`/`@property(…)`: letters, digits, `.`,
    /// `-`, `_`.
    ReferenceName,
    /// `(` after `@status`/`@property`/`FUNCTION`.
    OpeningParenthesis,
    /// Nothing more: the predicate is complete.
    EndOfInput,
}

/// What a predicate parser found where it expected something else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PredicateFound {
    /// The end of the text.
    EndOfInput,
    /// A token, its text cut to 24 characters.
    Token(String),
}

impl fmt::Display for PredicateErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("the predicate is empty"),
            Self::TooLong { length } => write!(
                f,
                "the predicate is {length} bytes, over the limit of {MAX_PREDICATE_BYTES}"
            ),
            Self::TooDeep => write!(f, "nesting deeper than {MAX_PREDICATE_DEPTH} levels"),
            Self::Expected { expected, found } => write!(f, "expected {expected}, found {found}"),
            Self::UnterminatedString => f.write_str("a string literal has no closing quote"),
            Self::InvalidNumber => f.write_str("a malformed number"),
            Self::UnexpectedCharacter { character } => {
                write!(f, "the character {character:?} starts no token")
            }
            Self::FormatArgument => f.write_str(
                "a format argument (%@, %K, …): a declaration's predicate is evaluated without arguments",
            ),
            Self::Variable => f.write_str(
                "a substitution variable ($name): a declaration's predicate is evaluated without variables",
            ),
            Self::Subquery => f.write_str("SUBQUERY needs a substitution variable"),
            Self::UnknownModifier { modifier } => write!(
                f,
                "unknown comparison modifier {modifier:?} (c, d, n and l are known)"
            ),
        }
    }
}

impl fmt::Display for PredicateExpected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Predicate => "a predicate",
            Self::Expression => "an expression",
            Self::ComparisonOperator => "a comparison operator",
            Self::ClosingParenthesis => "')'",
            Self::ClosingBrace => "',' or '}'",
            Self::ClosingBracket => "']'",
            Self::ArgumentSeparator => "',' or ')'",
            Self::Key => "a key",
            Self::ReferenceName => "a status item or property name",
            Self::OpeningParenthesis => "'('",
            Self::EndOfInput => "the end of the predicate",
        })
    }
}

impl fmt::Display for PredicateFound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EndOfInput => f.write_str("the end of the predicate"),
            Self::Token(text) => write!(f, "{text:?}"),
        }
    }
}

/// Checks that `predicate` parses as an `NSPredicate` format string a device can evaluate
/// (see the module documentation for the grammar).
///
/// ```
/// use mdm_ddm::{check_predicate, PredicateErrorKind, PredicateExpected};
///
/// assert!(check_predicate("@status(device.operating-system.family) == 'iOS'").is_ok());
/// let error = check_predicate("@status(device.model.family) == ").unwrap_err();
/// assert_eq!(error.offset, 32);
/// assert!(matches!(
///     error.kind,
///     PredicateErrorKind::Expected { expected: PredicateExpected::Expression, .. }
/// ));
/// ```
pub fn check_predicate(predicate: &str) -> Result<(), PredicateError> {
    if predicate.len() > MAX_PREDICATE_BYTES {
        return Err(PredicateError {
            offset: 0,
            kind: PredicateErrorKind::TooLong {
                length: predicate.len(),
            },
        });
    }
    let tokens = lex(predicate)?;
    if tokens.is_empty() {
        return Err(PredicateError {
            offset: 0,
            kind: PredicateErrorKind::Empty,
        });
    }
    let mut parser = Parser {
        text: predicate,
        tokens: &tokens,
        pos: 0,
        depth: 0,
    };
    let kind = parser.or_expr()?;
    if parser.peek().is_some() {
        return Err(parser.expected(PredicateExpected::EndOfInput));
    }
    if kind == Kind::Expression {
        return Err(parser.expected(PredicateExpected::ComparisonOperator));
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    /// A word: an identifier or keyword (`UTI-CONFORMS-TO` included).
    Word,
    /// `#word`: a reserved word used as a key.
    EscapedWord,
    /// `@word` (a collection operator such as `@count`).
    AtWord,
    /// `@status(name)` or `@property(name)`.
    Reference,
    Str,
    Number,
    LParen,
    RParen,
    LBrace,
    RBrace,
    LBracket,
    RBracket,
    Comma,
    Dot,
    Plus,
    Minus,
    Star,
    Slash,
    Power,
    /// `==` `=` `!=` `<>` `<` `<=` `=<` `>` `>=` `=>`
    Compare,
    AndOp,
    OrOp,
    Bang,
}

#[derive(Debug, Clone, Copy)]
struct Token {
    kind: Tok,
    start: usize,
    end: usize,
}

fn lex(text: &str) -> Result<Vec<Token>, PredicateError> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0usize;
    let err = |offset, kind| PredicateError { offset, kind };
    while let Some(&b) = bytes.get(i) {
        let start = i;
        let next = bytes.get(i.saturating_add(1)).copied();
        let (kind, len) = match b {
            b' ' | b'\t' | b'\n' | b'\r' => {
                i = i.saturating_add(1);
                continue;
            }
            b'(' => (Tok::LParen, 1),
            b')' => (Tok::RParen, 1),
            b'{' => (Tok::LBrace, 1),
            b'}' => (Tok::RBrace, 1),
            b'[' => (Tok::LBracket, 1),
            b']' => (Tok::RBracket, 1),
            b',' => (Tok::Comma, 1),
            b'.' => (Tok::Dot, 1),
            b'+' => (Tok::Plus, 1),
            b'-' => (Tok::Minus, 1),
            b'/' => (Tok::Slash, 1),
            b'*' if next == Some(b'*') => (Tok::Power, 2),
            b'*' => (Tok::Star, 1),
            b'=' if matches!(next, Some(b'=' | b'<' | b'>')) => (Tok::Compare, 2),
            b'=' => (Tok::Compare, 1),
            b'!' if next == Some(b'=') => (Tok::Compare, 2),
            b'!' => (Tok::Bang, 1),
            b'<' if matches!(next, Some(b'=' | b'>')) => (Tok::Compare, 2),
            b'<' | b'>' if next == Some(b'=') => (Tok::Compare, 2),
            b'<' | b'>' => (Tok::Compare, 1),
            b'&' if next == Some(b'&') => (Tok::AndOp, 2),
            b'|' if next == Some(b'|') => (Tok::OrOp, 2),
            b'%' => return Err(err(start, PredicateErrorKind::FormatArgument)),
            b'$' => return Err(err(start, PredicateErrorKind::Variable)),
            b'\'' | b'"' => (Tok::Str, string_len(bytes, start)?),
            b'0'..=b'9' => (Tok::Number, number_len(bytes, start)?),
            b'#' if next.is_some_and(is_word_start) => (
                Tok::EscapedWord,
                word_len(bytes, start.saturating_add(1)).saturating_add(1),
            ),
            b'@' => reference_or_at_word(text, start)?,
            _ if is_word_start(b) => (Tok::Word, keyword_or_word_len(text, start)),
            _ => {
                let character = text
                    .get(start..)
                    .and_then(|s| s.chars().next())
                    .unwrap_or('?');
                return Err(err(
                    start,
                    PredicateErrorKind::UnexpectedCharacter { character },
                ));
            }
        };
        i = start.saturating_add(len);
        tokens.push(Token {
            kind,
            start,
            end: i,
        });
    }
    Ok(tokens)
}

fn is_word_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn word_len(bytes: &[u8], start: usize) -> usize {
    bytes.get(start..).map_or(0, |rest| {
        rest.iter().take_while(|&&b| is_word_byte(b)).count()
    })
}

/// A word, or one of the hyphenated operators `UTI-CONFORMS-TO` and `UTI-EQUALS`.
fn keyword_or_word_len(text: &str, start: usize) -> usize {
    for op in ["UTI-CONFORMS-TO", "UTI-EQUALS"] {
        let end = start.saturating_add(op.len());
        if text
            .get(start..end)
            .is_some_and(|s| s.eq_ignore_ascii_case(op))
            && !text.as_bytes().get(end).copied().is_some_and(is_word_byte)
        {
            return op.len();
        }
    }
    word_len(text.as_bytes(), start)
}

fn string_len(bytes: &[u8], start: usize) -> Result<usize, PredicateError> {
    let quote = bytes.get(start).copied();
    let mut i = start.saturating_add(1);
    while let Some(&b) = bytes.get(i) {
        if b == b'\\' {
            i = i.saturating_add(2);
        } else if Some(b) == quote {
            return Ok(i.saturating_add(1).saturating_sub(start));
        } else {
            i = i.saturating_add(1);
        }
    }
    Err(PredicateError {
        offset: start,
        kind: PredicateErrorKind::UnterminatedString,
    })
}

fn number_len(bytes: &[u8], start: usize) -> Result<usize, PredicateError> {
    let invalid = || PredicateError {
        offset: start,
        kind: PredicateErrorKind::InvalidNumber,
    };
    let at = |i: usize| bytes.get(i).copied();
    let digits = |from: usize, ok: fn(u8) -> bool| {
        bytes
            .get(from..)
            .map_or(0, |rest| rest.iter().take_while(|&&b| ok(b)).count())
    };
    let mut i = start;
    let radix_digits: Option<fn(u8) -> bool> = match (at(i), at(i.saturating_add(1))) {
        (Some(b'0'), Some(b'x' | b'X')) => Some(|b: u8| b.is_ascii_hexdigit()),
        (Some(b'0'), Some(b'o' | b'O')) => Some(|b: u8| (b'0'..=b'7').contains(&b)),
        (Some(b'0'), Some(b'b' | b'B')) => Some(|b: u8| b == b'0' || b == b'1'),
        _ => None,
    };
    if let Some(ok) = radix_digits {
        let n = digits(i.saturating_add(2), ok);
        if n == 0 {
            return Err(invalid());
        }
        i = i.saturating_add(2).saturating_add(n);
    } else {
        i = i.saturating_add(digits(i, |b| b.is_ascii_digit()));
        if at(i) == Some(b'.') && at(i.saturating_add(1)).is_some_and(|b| b.is_ascii_digit()) {
            i = i.saturating_add(1);
            i = i.saturating_add(digits(i, |b| b.is_ascii_digit()));
        }
        if matches!(at(i), Some(b'e' | b'E')) {
            i = i.saturating_add(1);
            if matches!(at(i), Some(b'+' | b'-')) {
                i = i.saturating_add(1);
            }
            let n = digits(i, |b| b.is_ascii_digit());
            if n == 0 {
                return Err(invalid());
            }
            i = i.saturating_add(n);
        }
    }
    if at(i).is_some_and(is_word_byte) {
        return Err(invalid());
    }
    Ok(i.saturating_sub(start))
}

/// `@status(name)`, `@property(name)` (one token each), or `@word`.
fn reference_or_at_word(text: &str, start: usize) -> Result<(Tok, usize), PredicateError> {
    let bytes = text.as_bytes();
    let word_start = start.saturating_add(1);
    let n = word_len(bytes, word_start);
    if n == 0 || !bytes.get(word_start).copied().is_some_and(is_word_start) {
        return Err(PredicateError {
            offset: word_start,
            kind: PredicateErrorKind::Expected {
                expected: PredicateExpected::Key,
                found: found_at(text, word_start),
            },
        });
    }
    let word_end = word_start.saturating_add(n);
    let word = text.get(word_start..word_end).unwrap_or("");
    if word != "status" && word != "property" {
        return Ok((Tok::AtWord, n.saturating_add(1)));
    }
    let mut i = skip_spaces(bytes, word_end);
    if bytes.get(i) != Some(&b'(') {
        return Err(expected_at(text, i, PredicateExpected::OpeningParenthesis));
    }
    i = skip_spaces(bytes, i.saturating_add(1));
    let name_start = i;
    let name_len = bytes.get(i..).map_or(0, |rest| {
        rest.iter()
            .take_while(|&&b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
            .count()
    });
    if name_len == 0 {
        return Err(expected_at(
            text,
            name_start,
            PredicateExpected::ReferenceName,
        ));
    }
    i = skip_spaces(bytes, i.saturating_add(name_len));
    if bytes.get(i) != Some(&b')') {
        return Err(expected_at(text, i, PredicateExpected::ClosingParenthesis));
    }
    Ok((Tok::Reference, i.saturating_add(1).saturating_sub(start)))
}

fn skip_spaces(bytes: &[u8], mut i: usize) -> usize {
    while bytes
        .get(i)
        .is_some_and(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
    {
        i = i.saturating_add(1);
    }
    i
}

fn expected_at(text: &str, offset: usize, expected: PredicateExpected) -> PredicateError {
    PredicateError {
        offset,
        kind: PredicateErrorKind::Expected {
            expected,
            found: found_at(text, offset),
        },
    }
}

/// What is at `offset`, for an error: up to the next space, cut to 24 characters.
fn found_at(text: &str, offset: usize) -> PredicateFound {
    match text.get(offset..).map(str::trim_start) {
        Some(rest) if !rest.is_empty() => PredicateFound::Token(
            rest.split(char::is_whitespace)
                .next()
                .unwrap_or(rest)
                .chars()
                .take(24)
                .collect(),
        ),
        _ => PredicateFound::EndOfInput,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Predicate,
    Expression,
}

const RESERVED: &[&str] = &[
    "AND",
    "OR",
    "NOT",
    "IN",
    "LIKE",
    "MATCHES",
    "BEGINSWITH",
    "ENDSWITH",
    "CONTAINS",
    "BETWEEN",
    "ANY",
    "SOME",
    "ALL",
    "NONE",
    "TRUE",
    "YES",
    "FALSE",
    "NO",
    "NULL",
    "NIL",
    "SELF",
    "TRUEPREDICATE",
    "FALSEPREDICATE",
    "FIRST",
    "LAST",
    "SIZE",
    "SUBQUERY",
    "FUNCTION",
    "UTI-CONFORMS-TO",
    "UTI-EQUALS",
];

const WORD_OPERATORS: &[&str] = &[
    "BEGINSWITH",
    "ENDSWITH",
    "CONTAINS",
    "LIKE",
    "MATCHES",
    "IN",
    "BETWEEN",
    "UTI-CONFORMS-TO",
    "UTI-EQUALS",
];

struct Parser<'a> {
    text: &'a str,
    tokens: &'a [Token],
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<Token> {
        self.tokens.get(self.pos).copied()
    }

    fn bump(&mut self) {
        self.pos = self.pos.saturating_add(1);
    }

    fn token_text(&self, token: Token) -> &str {
        self.text.get(token.start..token.end).unwrap_or("")
    }

    fn is_word(&self, token: Option<Token>, word: &str) -> bool {
        token.is_some_and(|t| t.kind == Tok::Word && self.token_text(t).eq_ignore_ascii_case(word))
    }

    fn is_reserved(&self, token: Token) -> bool {
        token.kind == Tok::Word
            && RESERVED
                .iter()
                .any(|r| self.token_text(token).eq_ignore_ascii_case(r))
    }

    fn offset(&self) -> usize {
        self.peek().map_or(self.text.len(), |t| t.start)
    }

    fn expected(&self, expected: PredicateExpected) -> PredicateError {
        let found = match self.peek() {
            None => PredicateFound::EndOfInput,
            Some(t) => PredicateFound::Token(self.token_text(t).chars().take(24).collect()),
        };
        PredicateError {
            offset: self.offset(),
            kind: PredicateErrorKind::Expected { expected, found },
        }
    }

    fn expect(&mut self, kind: Tok, expected: PredicateExpected) -> Result<(), PredicateError> {
        if self.peek().is_some_and(|t| t.kind == kind) {
            self.bump();
            Ok(())
        } else {
            Err(self.expected(expected))
        }
    }

    fn descend(&mut self) -> Result<(), PredicateError> {
        self.depth = self.depth.saturating_add(1);
        if self.depth > MAX_PREDICATE_DEPTH {
            return Err(PredicateError {
                offset: self.offset(),
                kind: PredicateErrorKind::TooDeep,
            });
        }
        Ok(())
    }

    fn ascend(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// An operand of AND/OR/NOT must be a predicate: an expression there is a comparison
    /// missing its operator, reported where the operator should be.
    fn require_predicate(&self, kind: Kind) -> Result<(), PredicateError> {
        match kind {
            Kind::Predicate => Ok(()),
            Kind::Expression => Err(self.expected(PredicateExpected::ComparisonOperator)),
        }
    }

    fn or_expr(&mut self) -> Result<Kind, PredicateError> {
        let mut kind = self.and_expr()?;
        while self.peek().is_some_and(|t| t.kind == Tok::OrOp) || self.is_word(self.peek(), "OR") {
            self.require_predicate(kind)?;
            self.bump();
            let right = self.and_expr()?;
            self.require_predicate(right)?;
            kind = Kind::Predicate;
        }
        Ok(kind)
    }

    fn and_expr(&mut self) -> Result<Kind, PredicateError> {
        let mut kind = self.not_expr()?;
        while self.peek().is_some_and(|t| t.kind == Tok::AndOp) || self.is_word(self.peek(), "AND")
        {
            self.require_predicate(kind)?;
            self.bump();
            let right = self.not_expr()?;
            self.require_predicate(right)?;
            kind = Kind::Predicate;
        }
        Ok(kind)
    }

    fn not_expr(&mut self) -> Result<Kind, PredicateError> {
        if self.peek().is_some_and(|t| t.kind == Tok::Bang) || self.is_word(self.peek(), "NOT") {
            self.descend()?;
            self.bump();
            let kind = self.not_expr()?;
            self.require_predicate(kind)?;
            self.ascend();
            return Ok(Kind::Predicate);
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Kind, PredicateError> {
        if self.peek().is_none() {
            return Err(self.expected(PredicateExpected::Predicate));
        }
        let aggregate = ["ANY", "SOME", "ALL", "NONE"]
            .iter()
            .any(|w| self.is_word(self.peek(), w));
        if aggregate {
            self.bump();
        }
        let left = self.additive()?;
        if left == Kind::Predicate {
            if aggregate {
                return Err(self.expected(PredicateExpected::ComparisonOperator));
            }
            return Ok(Kind::Predicate);
        }
        if !self.comparison_operator()? {
            if aggregate {
                return Err(self.expected(PredicateExpected::ComparisonOperator));
            }
            return Ok(Kind::Expression);
        }
        self.expression()?;
        Ok(Kind::Predicate)
    }

    /// Consumes a comparison operator and its modifiers, if one is next.
    fn comparison_operator(&mut self) -> Result<bool, PredicateError> {
        let Some(token) = self.peek() else {
            return Ok(false);
        };
        let is_operator = token.kind == Tok::Compare
            || WORD_OPERATORS.iter().any(|w| self.is_word(Some(token), w));
        if !is_operator {
            return Ok(false);
        }
        self.bump();
        if self.peek().is_some_and(|t| t.kind == Tok::LBracket) {
            self.bump();
            match self.peek() {
                Some(t) if t.kind == Tok::Word => {
                    if let Some((i, modifier)) = self
                        .token_text(t)
                        .char_indices()
                        .find(|(_, c)| !matches!(c.to_ascii_lowercase(), 'c' | 'd' | 'n' | 'l'))
                    {
                        return Err(PredicateError {
                            offset: t.start.saturating_add(i),
                            kind: PredicateErrorKind::UnknownModifier { modifier },
                        });
                    }
                    self.bump();
                }
                _ => {
                    return Err(PredicateError {
                        offset: self.offset(),
                        kind: PredicateErrorKind::UnknownModifier {
                            modifier: self
                                .text
                                .get(self.offset()..)
                                .and_then(|s| s.chars().next())
                                .unwrap_or(']'),
                        },
                    });
                }
            }
            self.expect(Tok::RBracket, PredicateExpected::ClosingBracket)?;
        }
        Ok(true)
    }

    /// An operand that must be an expression.
    fn expression(&mut self) -> Result<(), PredicateError> {
        self.operand(Self::additive)
    }

    /// Arithmetic: `+ -`, then `* /`, then `**`, each level's operands the next level's, the
    /// last level's operands unary expressions.
    fn additive(&mut self) -> Result<Kind, PredicateError> {
        self.arithmetic(0)
    }

    fn arithmetic(&mut self, level: usize) -> Result<Kind, PredicateError> {
        const LEVELS: [&[Tok]; 3] = [
            &[Tok::Plus, Tok::Minus],
            &[Tok::Star, Tok::Slash],
            &[Tok::Power],
        ];
        let Some(operators) = LEVELS.get(level) else {
            return self.unary();
        };
        let next = level.saturating_add(1);
        let left = self.arithmetic(next)?;
        if left == Kind::Predicate {
            return Ok(left);
        }
        while self.peek().is_some_and(|t| operators.contains(&t.kind)) {
            self.bump();
            self.operand(|parser| parser.arithmetic(next))?;
        }
        Ok(Kind::Expression)
    }

    /// An operand that must be an expression, parsed by `next`; a parenthesized predicate there
    /// is reported where it starts.
    fn operand(
        &mut self,
        next: impl FnOnce(&mut Self) -> Result<Kind, PredicateError>,
    ) -> Result<(), PredicateError> {
        let offset = self.offset();
        let found = self.peek();
        match next(self)? {
            Kind::Expression => Ok(()),
            Kind::Predicate => Err(PredicateError {
                offset,
                kind: PredicateErrorKind::Expected {
                    expected: PredicateExpected::Expression,
                    found: found.map_or(PredicateFound::EndOfInput, |t| {
                        PredicateFound::Token(self.token_text(t).chars().take(24).collect())
                    }),
                },
            }),
        }
    }

    fn unary(&mut self) -> Result<Kind, PredicateError> {
        if self.peek().is_some_and(|t| t.kind == Tok::Minus) {
            self.descend()?;
            self.bump();
            self.operand(Self::unary)?;
            self.ascend();
            return Ok(Kind::Expression);
        }
        let kind = self.primary()?;
        if kind == Kind::Expression {
            self.postfix()?;
        }
        Ok(kind)
    }

    fn postfix(&mut self) -> Result<(), PredicateError> {
        loop {
            match self.peek().map(|t| t.kind) {
                Some(Tok::Dot) => {
                    self.bump();
                    match self.peek() {
                        Some(t)
                            if matches!(t.kind, Tok::EscapedWord | Tok::AtWord)
                                || (t.kind == Tok::Word && !self.is_reserved(t)) =>
                        {
                            self.bump();
                        }
                        _ => return Err(self.expected(PredicateExpected::Key)),
                    }
                }
                Some(Tok::LBracket) => {
                    self.descend()?;
                    self.bump();
                    if ["FIRST", "LAST", "SIZE"]
                        .iter()
                        .any(|w| self.is_word(self.peek(), w))
                    {
                        self.bump();
                    } else {
                        self.expression()?;
                    }
                    self.expect(Tok::RBracket, PredicateExpected::ClosingBracket)?;
                    self.ascend();
                }
                _ => return Ok(()),
            }
        }
    }

    fn primary(&mut self) -> Result<Kind, PredicateError> {
        let Some(token) = self.peek() else {
            return Err(self.expected(PredicateExpected::Expression));
        };
        match token.kind {
            Tok::Str | Tok::Number | Tok::Reference | Tok::EscapedWord | Tok::AtWord => {
                self.bump();
                Ok(Kind::Expression)
            }
            Tok::LParen => {
                self.descend()?;
                self.bump();
                let kind = self.or_expr()?;
                self.expect(Tok::RParen, PredicateExpected::ClosingParenthesis)?;
                self.ascend();
                Ok(kind)
            }
            Tok::LBrace => {
                self.expression_list(Tok::RBrace, PredicateExpected::ClosingBrace)?;
                Ok(Kind::Expression)
            }
            Tok::Word => self.word(token),
            _ => Err(self.expected(PredicateExpected::Expression)),
        }
    }

    fn word(&mut self, token: Token) -> Result<Kind, PredicateError> {
        let text = self.token_text(token);
        let is = |w: &str| text.eq_ignore_ascii_case(w);
        if ["TRUE", "YES", "FALSE", "NO", "NULL", "NIL", "SELF"]
            .iter()
            .any(|w| is(w))
        {
            self.bump();
            return Ok(Kind::Expression);
        }
        if is("TRUEPREDICATE") || is("FALSEPREDICATE") {
            self.bump();
            return Ok(Kind::Predicate);
        }
        if is("SUBQUERY") {
            return Err(PredicateError {
                offset: token.start,
                kind: PredicateErrorKind::Subquery,
            });
        }
        let function = is("FUNCTION");
        if self.is_reserved(token) && !function {
            return Err(self.expected(PredicateExpected::Expression));
        }
        self.bump();
        let call = self.peek().is_some_and(|t| t.kind == Tok::LParen);
        if function && !call {
            return Err(self.expected(PredicateExpected::OpeningParenthesis));
        }
        if call {
            self.expression_list(Tok::RParen, PredicateExpected::ArgumentSeparator)?;
        }
        // A key path continues in `postfix`.
        Ok(Kind::Expression)
    }

    /// `{a, b}` or `f(a, b)` from the opening token on: comma-separated expressions, possibly
    /// none, up to `close`, one level deeper.
    fn expression_list(
        &mut self,
        close: Tok,
        expected: PredicateExpected,
    ) -> Result<(), PredicateError> {
        self.descend()?;
        self.bump();
        if self.peek().is_some_and(|t| t.kind == close) {
            self.bump();
        } else {
            loop {
                self.expression()?;
                match self.peek().map(|t| t.kind) {
                    Some(Tok::Comma) => self.bump(),
                    Some(kind) if kind == close => {
                        self.bump();
                        break;
                    }
                    _ => return Err(self.expected(expected)),
                }
            }
        }
        self.ascend();
        Ok(())
    }
}

#[cfg(test)]
mod tests;
