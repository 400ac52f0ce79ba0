use nestogy_render::{Logo, Renderer, Template, sample};

#[test]
fn scratch() {
    let r = Renderer::new();
    let mut inv = sample::invoice_data(5);
    inv["document"]["status_label"] = "DRAFT".into();
    inv["company"]["logo"] = "/logo.svg".into();
    inv["lines"][1]["description"] = "Averyveryverylongwordwithoutanyspacesatallthatgoesonandonforeverandeverandeverandever-ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 Zürich Ελληνικά 東京 العربية".into();
    let cases = vec![
        (
            "invoice",
            Template::Invoice,
            inv,
            Some(Logo::Svg(sample::svg_logo())),
        ),
        (
            "invoice300",
            Template::Invoice,
            sample::invoice_data(300),
            None,
        ),
        ("quote", Template::Quote, sample::quote_data(3), None),
        (
            "statement",
            Template::Statement,
            sample::statement_data(60),
            None,
        ),
    ];
    for (name, t, data, logo) in cases {
        let bytes = serde_json::to_vec(&data).unwrap();
        let t0 = std::time::Instant::now();
        match r.render(t, &bytes, logo.as_ref()) {
            Ok(pdf) => {
                std::fs::write(format!("/tmp/out/{name}.pdf"), pdf).unwrap();
                println!("{name}: ok {:?}", t0.elapsed());
            }
            Err(e) => println!("{name}: {e}"),
        }
    }
}
