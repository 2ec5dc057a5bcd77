use super::*;

#[test]
fn accepts_documented_predicates() {
    for p in [
        // Apple's DDM examples (WWDC 2022 "Adopt declarative device management", KMFDDM docs).
        "@status(device.model.family) == 'iPad'",
        "@status(device.operating-system.family) == \"iOS\"",
        "@status(device.identifier.serial-number) == 'ZYXW4321'",
        "(@property(shard) <= 75)",
        "@status(device.operating-system.version) BEGINSWITH '17.'",
        "1==0",
        // Apple's Predicate Format String Syntax examples.
        "grade == \"7\" OR grade == \"8\"",
        "name BEGINSWITH[cd] 'a'",
        "name LIKE[c] '*ed'",
        "name MATCHES '^A.+e$'",
        "age BETWEEN { 21, 30 }",
        "ANY employees.firstName like 'Matthew'",
        "ALL children.age > 12",
        "NONE tags IN { 'beta', 'test' }",
        "SOME x.y != nil",
        "employees.@count > 5",
        "employees[FIRST].name = 'Bob'",
        "children[SIZE] >= 2 && !(name == 'x')",
        "NOT (a = 1) || b <> 2",
        "TRUEPREDICATE",
        "FALSEPREDICATE OR TRUEPREDICATE",
        "price * 1.5 + 2 ** 3 < 0x1F - 0b101 / 0o7",
        "-x = -1.5e3",
        "#IN.value == YES",
        "value == NULL AND other = NO",
        "SELF IN {'a', 'b', {1, 2}}",
        "lowercase(name) == 'x' and now() > FUNCTION(date, 'timeIntervalSinceNow')",
        "type UTI-CONFORMS-TO 'public.image' OR type UTI-EQUALS 'public.png'",
        "@status(device.operating-system.version) >= '15.0' AND @status(device.model.family) IN {'iPhone', 'iPad'}",
        "((((a == 1))))",
        "(a + 1) * 2 > 3",
        "name CONTAINS[cd] 'it\\'s'",
        "  @status( device.model.family )  ==  'Mac'  ",
    ] {
        assert_eq!(check_predicate(p), Ok(()), "{p}");
    }
}

fn refused(p: &str) -> PredicateError {
    check_predicate(p).expect_err(p)
}

fn expected(p: &str) -> (usize, PredicateExpected, PredicateFound) {
    match refused(p) {
        PredicateError {
            offset,
            kind: PredicateErrorKind::Expected { expected, found },
        } => (offset, expected, found),
        other => panic!("{p}: {other:?}"),
    }
}

fn tok(s: &str) -> PredicateFound {
    PredicateFound::Token(s.into())
}

#[test]
fn refuses_malformed_predicates_with_positions() {
    use PredicateExpected::*;
    use PredicateFound::EndOfInput as End;
    assert_eq!(expected("a =="), (4, Expression, End));
    assert_eq!(expected("a"), (1, ComparisonOperator, End));
    assert_eq!(expected("a b"), (2, EndOfInput, tok("b")));
    assert_eq!(expected("(a == 1"), (7, ClosingParenthesis, End));
    assert_eq!(expected("a == 1)"), (6, EndOfInput, tok(")")));
    assert_eq!(expected("a == 1 AND"), (10, Predicate, End));
    assert_eq!(
        expected("a AND b == 1"),
        (2, ComparisonOperator, tok("AND"))
    );
    assert_eq!(expected("a == 1 OR b"), (11, ComparisonOperator, End));
    assert_eq!(expected("NOT a"), (5, ComparisonOperator, End));
    assert_eq!(expected("a == AND"), (5, Expression, tok("AND")));
    assert_eq!(expected("a IN {1, 2"), (10, ClosingBrace, End));
    assert_eq!(expected("a IN {1 2}"), (8, ClosingBrace, tok("2")));
    assert_eq!(expected("a. == 1"), (3, Key, tok("==")));
    assert_eq!(expected("a[1 == 2"), (4, ClosingBracket, tok("==")));
    assert_eq!(expected("@status() == 1"), (8, ReferenceName, tok(")")));
    assert_eq!(
        expected("@status(x y) == 1"),
        (10, ClosingParenthesis, tok("y)"))
    );
    assert_eq!(
        expected("@status x == 1"),
        (8, OpeningParenthesis, tok("x"))
    );
    assert_eq!(expected("a == (b == 1)"), (5, Expression, tok("(")));
    assert_eq!(expected("ANY a"), (5, ComparisonOperator, End));
    assert_eq!(expected("f(1 2) == 1"), (4, ArgumentSeparator, tok("2")));
    assert_eq!(expected("== 1"), (0, Expression, tok("==")));
    assert_eq!(expected("@ == 1"), (1, Key, tok("==")));

    let at = |p: &str| {
        let e = refused(p);
        (e.offset, e.kind)
    };
    assert_eq!(at(""), (0, PredicateErrorKind::Empty));
    assert_eq!(at("   "), (0, PredicateErrorKind::Empty));
    assert_eq!(
        at("name == 'abc"),
        (8, PredicateErrorKind::UnterminatedString)
    );
    assert_eq!(at("a == 0x"), (5, PredicateErrorKind::InvalidNumber));
    assert_eq!(at("a == 12abc"), (5, PredicateErrorKind::InvalidNumber));
    assert_eq!(at("a == 1e"), (5, PredicateErrorKind::InvalidNumber));
    assert_eq!(at("a == %@"), (5, PredicateErrorKind::FormatArgument));
    assert_eq!(at("%K == 1"), (0, PredicateErrorKind::FormatArgument));
    assert_eq!(at("a == $x"), (5, PredicateErrorKind::Variable));
    assert_eq!(
        at("SUBQUERY(a, b, c).@count > 0"),
        (0, PredicateErrorKind::Subquery)
    );
    assert_eq!(
        at("a ==[x] 1"),
        (5, PredicateErrorKind::UnknownModifier { modifier: 'x' })
    );
    assert_eq!(
        at("a ? 1"),
        (
            2,
            PredicateErrorKind::UnexpectedCharacter { character: '?' }
        )
    );
    assert_eq!(
        at("a & b"),
        (
            2,
            PredicateErrorKind::UnexpectedCharacter { character: '&' }
        )
    );
}

#[test]
fn error_messages_say_where_and_what() {
    assert_eq!(
        refused("a == 1 AND b").to_string(),
        "predicate refused at byte 12: expected a comparison operator, found the end of the predicate"
    );
    assert_eq!(
        refused("a == (b").to_string(),
        "predicate refused at byte 7: expected ')', found the end of the predicate"
    );
}

#[test]
fn bounds_hold() {
    let deep = format!("{}a == 1{}", "(".repeat(100_000), ")".repeat(100_000));
    assert!(matches!(
        refused(&deep).kind,
        PredicateErrorKind::TooLong { .. }
    ));
    let nested = format!("{}a == 1{}", "(".repeat(40), ")".repeat(40));
    let e = refused(&nested);
    assert_eq!(e.kind, PredicateErrorKind::TooDeep);
    assert_eq!(e.offset, MAX_PREDICATE_DEPTH);
    let nots = format!("{}a == 1", "!".repeat(1000));
    assert_eq!(refused(&nots).kind, PredicateErrorKind::TooDeep);
    let minus = format!("a == {}1", "-".repeat(1000));
    assert_eq!(refused(&minus).kind, PredicateErrorKind::TooDeep);
    let arrays = format!("a IN {}1{}", "{".repeat(1000), "}".repeat(1000));
    assert_eq!(refused(&arrays).kind, PredicateErrorKind::TooDeep);
    let ok = format!("{}a == 1{}", "(".repeat(31), ")".repeat(31));
    assert_eq!(check_predicate(&ok), Ok(()));
    // Long but flat is fine.
    let flat = vec!["a == 1"; 500].join(" OR ");
    assert_eq!(check_predicate(&flat), Ok(()));
}
