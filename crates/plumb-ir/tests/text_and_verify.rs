//! The IR text form round-trips, and the verifier rejects malformed graphs with
//! messages that name the node and the problem.

use plumb_ir::{Axis, Binary, Graph, Op, Reduce, Shape, Unary, parse, verify};

fn sample() -> Graph {
    let mut g = Graph::new("sample");
    let x = g.input("x", Shape::Tokens, true);
    let m = g.input("mask", Shape::Tokens, false);
    let r = g.input("r", Shape::Rows, false);
    let e = g.unary(Unary::Exp, x);
    let b = g.constant(0.1);
    let y = g.mul(e, b);
    let y = g.binary(Binary::Sub, y, r);
    let s = g.reduce(Reduce::Mean, Axis::Tok, y, Some(m));
    let order = g.op(Op::Argsort(s), Shape::Rows);
    let sorted = g.op(Op::Permute(s, order), Shape::Rows);
    let gamma = g.constant(0.95);
    let gae = g.op(Op::DiscountedCumsum { axis: Axis::Tok, arg: x, gamma, reverse: true }, Shape::Tokens);
    let total = g.reduce(Reduce::Sum, Axis::Tok, gae, None);
    let both = g.add(sorted, total);
    let loss = g.reduce(Reduce::LogSumExp, Axis::Batch, both, None);
    let nan = g.constant(f64::NAN);
    let inf = g.constant(f64::NEG_INFINITY);
    let odd = g.binary(Binary::Max, nan, inf);
    let odd = g.add(loss, odd);
    g.set_output("loss", loss);
    g.set_output("odd", odd);
    g
}

#[test]
fn print_parse_print_is_the_identity() {
    let graph = sample();
    verify(&graph).expect("the sample verifies");
    let text = graph.to_string();
    let parsed = parse(&text).expect("parses");
    assert_eq!(parsed.to_string(), text);
    verify(&parsed).expect("the parsed graph verifies");
}

fn verify_text(text: &str) -> Vec<String> {
    let graph = parse(text).expect("parses");
    match verify(&graph) {
        Ok(()) => Vec::new(),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn verifier_rejects_malformed_graphs() {
    let cases = [
        (
            "graph g\ninput x : rows\n%0 = input 0 : rows\n%1 = add %0 %2 : rows\n%2 = const 1.0 : scalar\n",
            "%1: uses %2, which does not come before it",
        ),
        ("graph g\ninput x : rows\n%0 = input 1 : rows\n", "%0: input 1 does not exist"),
        ("graph g\ninput x : rows\n%0 = input 0 : tokens\n", "%0: the shape of input `x` must be rows, found tokens"),
        (
            "graph g\ninput t : tokens\ninput c : cands\n%0 = input 0 : tokens\n%1 = input 1 : cands\n%2 = add %0 %1 : tokens\n",
            "%2: add of incompatible shapes tokens and cands",
        ),
        (
            "graph g\ninput x : rows\n%0 = input 0 : rows\n%1 = reduce.sum.tok %0 : rows\n",
            "%1: the operand of a reduction over tok must be tokens, found rows",
        ),
        (
            "graph g\ninput x : rows\n%0 = input 0 : rows\n%1 = exp %0 : scalar\n",
            "%1: the result must be rows, found scalar",
        ),
        (
            "graph g\ninput x : tokens\n%0 = input 0 : tokens\n%1 = broadcast %0 : rows\n",
            "%1: cannot broadcast tokens to rows",
        ),
        (
            "graph g\ninput x : rows\n%0 = input 0 : rows\n%1 = const 0.5 : rows\n%2 = dcumsum.tok.rev %0 %1 : tokens\n",
            "%2: the operand must be tokens, found rows",
        ),
        (
            "graph g\ninput x : rows\n%0 = input 0 : rows\noutput loss = %7\n",
            "output `loss` names %7, which does not exist",
        ),
    ];
    for (text, expected) in cases {
        let errors = verify_text(text);
        assert!(errors.iter().any(|e| e.starts_with(expected)), "expected `{expected}`, got {errors:?} for\n{text}");
    }
}

#[test]
fn parser_reports_lines() {
    let error = parse("graph g\ninput x : rows\n%0 = frobnicate %0 : rows\n").expect_err("unknown op");
    assert_eq!(error.line, 3);
    assert!(error.message.contains("frobnicate"), "{error}");
    let error = parse("graph g\n%1 = const 1.0 : scalar\n").expect_err("out of order");
    assert!(error.message.contains("expected node %0"), "{error}");
    let error = parse("graph g\ninput x : matrix\n").expect_err("unknown shape");
    assert!(error.message.contains("matrix"), "{error}");
}
