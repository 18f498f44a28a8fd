//! `pix2pix serve`'s page in a real browser: headless Chromium driven over WebDriver draws on
//! the canvas, picks a model, translates, uploads a photo, and reads a run's dashboard. Needs
//! Debian's chromium and chromium-driver (.ci/run installs them); skipped without them locally,
//! a failure under CI.

mod common;

use std::time::Duration;

use common::browser::*;
use common::server::{Server, png, trained};
use fantoccini::Locator;
use fantoccini::actions::{InputSource, MOUSE_BUTTON_LEFT, MouseActions, PointerAction};
use serde_json::json;

#[test]
fn the_page_draws_translates_uploads_and_charts_a_run() {
    let Some((chromium, chromedriver)) = browser() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    trained(root, "tiny", &[]);
    trained(root, "other", &["--norm", "instance"]);
    let logged = std::fs::read_to_string(root.join("checkpoints/tiny/loss_log.jsonl"))
        .unwrap()
        .lines()
        .count();
    let photo = root.join("photo.png");
    std::fs::write(&photo, png(80, 50)).unwrap();
    let server = Server::start(root, &[]);
    let driver = Driver::start(&chromedriver);
    let profile = tempfile::tempdir().unwrap();

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = session(&chromium, &driver, profile.path()).await;

        // Pick a model: the canvas takes its size, and opens with an example of the run's
        // own data, translated.
        client.goto(&server.url("/")).await.unwrap();
        let select = client
            .wait()
            .at_most(Duration::from_secs(30))
            .for_element(Locator::Css("select#model option[value='tiny']"))
            .await
            .unwrap();
        drop(select);
        client
            .find(Locator::Css("select#model"))
            .await
            .unwrap()
            .select_by_value("tiny")
            .await
            .unwrap();
        let size = client
            .execute(
                "const c = document.getElementById('input'); return [c.width, c.height];",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(size, json!([32, 32]));
        let example = until(&client, &format!("{TRANSLATED_BY_TINY}{OUTPUT}"), 60).await;
        assert_eq!((&example[0], &example[1]), (&json!(32), &json!(32)));
        // The labels are named (the demo's shapes), the colour picker is gone.
        let labels = client
            .execute(
                "return [...document.querySelectorAll('#palette button')].map(b => b.getAttribute('aria-label'));",
                vec![],
            )
            .await
            .unwrap();
        for name in ["sky", "ground"] {
            assert!(labels.as_array().unwrap().contains(&json!(name)), "{labels}");
        }
        let picker = client
            .execute("return document.getElementById('free-colour').hidden", vec![])
            .await
            .unwrap();
        assert_eq!(picker, json!(true));

        // Two strokes with the mouse: every pixel they change takes the chosen label's colour
        // (no smoothed edges, which would be a third label).
        click(&client, "#palette button:nth-child(3)").await;
        client.execute(KEEP_PIXELS, vec![]).await.unwrap();
        let canvas = client.find(Locator::Css("canvas#input")).await.unwrap();
        let stroke = |from: (f64, f64), to: (f64, f64)| {
            MouseActions::new("mouse".into())
                .then(PointerAction::MoveToElement {
                    element: canvas.clone(),
                    duration: None,
                    x: from.0,
                    y: from.1,
                })
                .then(PointerAction::Down {
                    button: MOUSE_BUTTON_LEFT,
                })
                .then(PointerAction::MoveToElement {
                    element: canvas.clone(),
                    duration: Some(Duration::from_millis(150)),
                    x: to.0,
                    y: to.1,
                })
                .then(PointerAction::Up {
                    button: MOUSE_BUTTON_LEFT,
                })
        };
        for (from, to) in [((-100.0, -80.0), (90.0, 60.0)), ((-90.0, 90.0), (80.0, -100.0))] {
            client.perform_actions(stroke(from, to)).await.unwrap();
        }
        let changed = client.execute(CHANGED_PIXELS, vec![]).await.unwrap();
        assert!(changed[0].as_u64().unwrap() > 10, "the strokes changed little: {changed}");
        assert_eq!(changed[1], json!([changed[2].clone()]), "colours the strokes left");

        // Translate: the output is the model's size and not blank.
        click(&client, "button#translate").await;
        let output = until(&client, &after(&example), 60).await;
        assert_eq!((&output[0], &output[1]), (&json!(32), &json!(32)), "{output}");
        assert!(output[2].as_u64().unwrap() > 1, "a blank output: {output}");
        let download = client
            .find(Locator::Css("a#download"))
            .await
            .unwrap()
            .attr("href")
            .await
            .unwrap();
        assert_eq!(download.as_deref(), output[3].as_str());

        // Upload a photo: it covers the canvas, and translates again.
        let drawn = client.execute(CANVAS_SUM, vec![]).await.unwrap();
        client
            .find(Locator::Css("input#upload"))
            .await
            .unwrap()
            .send_keys(photo.to_str().unwrap())
            .await
            .unwrap();
        until(
            &client,
            "return document.getElementById('status').textContent.startsWith('placed') || null",
            30,
        )
        .await;
        let uploaded = client.execute(CANVAS_SUM, vec![]).await.unwrap();
        assert_ne!(uploaded, drawn, "the upload did not reach the canvas");
        click(&client, "button#translate").await;
        let second = until(&client, &after(&output), 60).await;
        assert_eq!((&second[0], &second[1]), (&json!(32), &json!(32)));
        // Live: Clear (and Undo) translate again, so that the output follows the canvas.
        click(&client, "input#live").await;
        click(&client, "button#clear").await;
        let cleared = until(&client, &after(&second), 60).await;
        click(&client, "button#undo").await;
        until(&client, &after(&cleared), 60).await;
        click(&client, "input#live").await;
        screenshot(&client, "serve-page.png").await;

        // A run trained while the page is open appears in its picker.
        trained(root, "late", &[]);
        until(
            &client,
            "return document.querySelector(\"select#model option[value='late']\") ? true : null",
            30,
        )
        .await;

        // The dashboard says where the run stands, charts every logged point and shows the
        // samples.
        client.goto(&server.url("/runs/tiny")).await.unwrap();
        let points = until(
            &client,
            "return document.querySelector('polyline[data-series=\"G_L1\"]')?.dataset.points ?? null",
            30,
        )
        .await;
        assert_eq!(points, json!(logged.to_string()));
        let progress = until(
            &client,
            "return document.getElementById('progress-text').textContent || null",
            30,
        )
        .await;
        assert_eq!(progress, json!("finished: 2 epochs"));
        let samples = until(
            &client,
            "const imgs = [...document.querySelectorAll('#samples img')]; \
             return imgs.length && imgs.every(i => i.complete && i.naturalWidth > 0) ? imgs.length : null",
            30,
        )
        .await;
        assert!(samples.as_u64().unwrap() >= 3, "{samples}");
        screenshot(&client, "serve-dashboard.png").await;
        // An unknown run: an error, no empty sections.
        client.goto(&server.url("/runs/nope")).await.unwrap();
        let unknown = until(
            &client,
            "const s = document.getElementById('status'); \
             return s.classList.contains('error') ? [s.textContent, document.getElementById('run').hidden] : null",
            30,
        )
        .await;
        assert!(unknown[0].as_str().unwrap().contains("no run 'nope'"), "{unknown}");
        assert_eq!(unknown[1], json!(true));

        // On a phone, the output shows beside the drawing without scrolling.
        client.set_window_size(390, 844).await.unwrap();
        client.goto(&server.url("/")).await.unwrap();
        until(&client, &format!("{TRANSLATED}{OUTPUT}"), 60).await;
        let bottom = client
            .execute(
                "return [document.getElementById('output').getBoundingClientRect().bottom, innerHeight];",
                vec![],
            )
            .await
            .unwrap();
        assert!(bottom[0].as_f64() <= bottom[1].as_f64(), "output below the fold: {bottom}");
        screenshot(&client, "serve-phone.png").await;

        // The server stops: the page says so, and the output it can no longer vouch for goes.
        let mut server = server;
        server.child.kill().unwrap();
        server.child.wait().unwrap();
        click(&client, "button#translate").await;
        let failed = until(
            &client,
            "const s = document.getElementById('status'); \
             return s.classList.contains('error') ? [s.textContent, \
               document.getElementById('output').hasAttribute('src'), \
               document.getElementById('download').hidden, \
               document.getElementById('translate').disabled] : null",
            60,
        )
        .await;
        assert!(
            failed[0].as_str().unwrap().contains("cannot be reached"),
            "{failed}"
        );
        assert_eq!(failed.as_array().unwrap()[1..], [json!(false), json!(true), json!(false)]);
        client.close().await.unwrap();
    });
}
