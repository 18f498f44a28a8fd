//! Runs as `serve` finds them: the dashboard's data, the official layout, the README's defaults,
//! seeded test mode, and runs that appear, change and go while it runs.

use super::*;

#[test]
fn dashboard_data_follows_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    trained(root, "tiny", &[]);
    let run = root.join("checkpoints/tiny");
    let lines = std::fs::read_to_string(run.join("loss_log.jsonl")).unwrap();
    let logged = lines.lines().count();
    assert!(logged >= 2, "{lines}");
    let server = Server::start(root, &["--token", "s3cret", "--allow-host", "box.local"]);
    // A name given with --allow-host is accepted as the Host; others are not.
    for (host, expected) in [("box.local", 200), ("other.local", 421)] {
        let port = server.address.rsplit(':').next().unwrap();
        let response = agent()
            .get(server.url("/healthz"))
            .header("Host", format!("{host}:{port}"))
            .call()
            .unwrap();
        assert_eq!(response.status().as_u16(), expected, "{host}");
    }

    // The token: required by the API, not by the page.
    let (status, _) = get(&server, "/api/runs/tiny");
    assert_eq!(status, 401);
    let (status, page) = get(&server, "/runs/tiny");
    assert!(status == 200 && page.contains("dashboard.js"));
    let authorised = |path: &str| {
        let mut response = agent()
            .get(server.url(path))
            .header("Authorization", "Bearer s3cret")
            .call()
            .unwrap();
        let status = response.status().as_u16();
        (status, response.body_mut().read_to_vec().unwrap())
    };
    let data = |server_path: &str| {
        let (status, body) = authorised(server_path);
        assert_eq!(status, 200);
        json(&String::from_utf8(body).unwrap())
    };
    let page = data("/api/runs/tiny");
    assert_eq!(page["points"].as_u64(), Some(logged as u64));
    let chart = page["chart"].as_str().unwrap();
    assert!(chart.contains(&format!("data-series=\"G_L1\" data-points=\"{logged}\"")));

    // The samples training wrote, and nothing else of the folder.
    let file = page["samples"][0]["images"][0][1]
        .as_str()
        .unwrap()
        .to_string();
    let (status, image) = authorised(&format!("/api/runs/tiny/images/{file}"));
    assert_eq!(status, 200);
    assert!(image::load_from_memory(&image).is_ok());
    for bad in [
        "..%2Ftrain_opt.json",
        "latest_net_G.bpk",
        "epoch999_fake_B.png",
    ] {
        assert_eq!(
            authorised(&format!("/api/runs/tiny/images/{bad}")).0,
            404,
            "{bad}"
        );
    }
    assert_eq!(authorised("/api/runs/..%2Ftiny").0, 404);
    // A link in the run's web/images, to any file, is not served, nor listed.
    std::fs::write(root.join("secret.png"), b"secret").unwrap();
    #[cfg(unix)]
    {
        let link = run.join("web/images/epoch777_real_A.png");
        std::os::unix::fs::symlink(root.join("secret.png"), &link).unwrap();
        assert_eq!(
            authorised("/api/runs/tiny/images/epoch777_real_A.png").0,
            404
        );
        let listed = String::from_utf8(authorised("/api/runs/tiny").1).unwrap();
        assert!(!listed.contains("epoch777"), "{listed}");
        std::fs::remove_file(link).unwrap();
    }

    // Host: one header, required from HTTP/1.1 on; an absolute target names this server too.
    let port = server.address.rsplit(':').next().unwrap().to_string();
    for (head, status) in [
        (
            format!("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"),
            "200",
        ),
        (
            "GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n".to_string(),
            "400",
        ),
        ("GET /healthz HTTP/1.0\r\n\r\n".to_string(), "200"),
        (
            format!(
                "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nHost: evil.example\r\nConnection: close\r\n\r\n"
            ),
            "400",
        ),
        (
            format!(
                "GET http://evil.example/healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
            ),
            "421",
        ),
        (
            format!(
                "GET http://127.0.0.1:{port}/healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
            ),
            "200",
        ),
    ] {
        let reply = raw(&server, head.as_bytes(), b"");
        let status_line = reply.lines().next().unwrap_or_default();
        assert!(
            status_line.starts_with("HTTP/1.") && status_line.contains(&format!(" {status} ")),
            "{head:?}: {reply}"
        );
    }

    // A resumed run cuts its log back: the chart follows.
    let first_two: String = lines.lines().take(2).map(|l| format!("{l}\n")).collect();
    std::fs::write(run.join("loss_log.jsonl"), first_two).unwrap();
    assert_eq!(data("/api/runs/tiny")["points"].as_u64(), Some(2));
    assert_eq!(data("/api/runs")[0], "tiny");

    // The token from a file (not on the command line, which `ps` shows); an empty one is
    // refused before the server starts.
    drop(server);
    std::fs::write(root.join("token.txt"), "fil3d\n").unwrap();
    let server = Server::start(root, &["--token-file", "token.txt"]);
    let with = |token: &str| {
        agent()
            .get(server.url("/api/runs"))
            .header("Authorization", format!("Bearer {token}"))
            .call()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!((with("fil3d"), with("s3cret")), (200, 401));
    common::fails_with(
        pix2pix(&["serve", "--port", "0", "--token", ""], root),
        &["--token", "visible ASCII"],
    );

    // The static training page has the same chart, inline.
    let html = std::fs::read_to_string(run.join("web/index.html")).unwrap();
    assert!(html.contains("<svg class=\"loss-chart\"") && html.contains("data-series=\"D_fake\""));
}

#[test]
fn official_layout_runs_and_generator_files_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    trained(root, "tiny", &[]);
    // The official layout: checkpoints/<name>_pretrained/latest_net_G.pth, no train_opt.json.
    ok(pix2pix(
        &[
            "export",
            "--name",
            "tiny",
            "--output",
            "checkpoints/tiny_pretrained/latest_net_G.pth",
        ],
        root,
    ));
    ok(pix2pix(
        &[
            "export",
            "--name",
            "tiny",
            "--format",
            "safetensors",
            "--output",
            "g.safetensors",
        ],
        root,
    ));
    let server = Server::start(
        root,
        &["--name", "tiny_pretrained", "--checkpoint", "g.safetensors"],
    );
    let (_, models) = get(&server, "/api/models");
    let models = json(&models);
    assert_eq!(names(&models), ["g", "tiny_pretrained"]);
    // A bare generator: the architecture's natural size, no epochs.
    assert_eq!(models[0]["size"].as_u64(), Some(32));
    assert_eq!(models[0]["epochs"], serde_json::json!([]));
    assert_eq!(models[1]["epochs"], serde_json::json!(["latest"]));

    let input = write(root, "sketch.png", &png(40, 40));
    let bytes = std::fs::read(&input).unwrap();
    let expected = translated(root, &input, &["--name", "tiny", "--eval"]);
    for model in ["g", "tiny_pretrained"] {
        let (status, output) = post(
            &server,
            &format!("/api/translate?model={model}&eval=true"),
            &bytes,
        );
        assert_eq!((status, output == expected), (200, true), "{model}");
    }
    let (status, _) = post(&server, "/api/translate?model=g&epoch=latest", &bytes);
    assert_eq!(status, 404, "a generator file has no epochs");

    // New weights written under the served name (a run still training) replace the cached ones.
    trained(root, "retrained", &["--seed", "5"]);
    ok(pix2pix(
        &[
            "export",
            "--name",
            "retrained",
            "--output",
            "checkpoints/tiny_pretrained/latest_net_G.pth",
            "--force",
        ],
        root,
    ));
    let expected = translated(root, &input, &["--name", "retrained", "--eval"]);
    let (status, output) = post(
        &server,
        "/api/translate?model=tiny_pretrained&eval=true",
        &bytes,
    );
    assert_eq!((status, output == expected), (200, true));
}

#[test]
fn the_readme_names_every_default_the_server_has() {
    let help = common::stdout(&ok(pix2pix(&["serve", "--help"], Path::new("."))));
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    for (flag, default, in_readme) in [
        ("--max-upload-mb", "20", "20 MB (413)"),
        ("--max-pixels", "16777216", "16777216, 4096x4096 (422)"),
        ("--queue", "16", "| 16 (503"),
        ("--workers", "1", "| 1 (each uses every core)"),
        ("--cache-mb", "1024", "1024 MB of weights"),
        ("--max-batch", "8", "| 8 requests"),
        ("--header-timeout", "10", "10 s (connection closed)"),
        ("--body-timeout", "30", "30 s (408)"),
        ("--request-timeout", "300", "300 s (408)"),
        ("--port", "8000", "http://127.0.0.1:8000/"),
    ] {
        let line = help
            .lines()
            .skip_while(|l| !l.contains(flag))
            .take(4)
            .collect::<String>();
        assert!(
            line.contains(&format!("[default: {default}]")),
            "{flag}: {line}"
        );
        assert!(
            readme.contains(in_readme),
            "README lacks {in_readme:?} for {flag}"
        );
    }
}

#[test]
fn concurrent_requests_in_test_mode_each_follow_their_own_seed() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // unet_64 has a dropout block (unet_32 has none): its test-mode outputs depend on the seed.
    trained(
        root,
        "drop",
        &[
            "--netG",
            "unet_64",
            "--load_size",
            "64",
            "--crop_size",
            "64",
        ],
    );
    let input = write(root, "sketch.png", &png(64, 64));
    let bytes = std::fs::read(&input).unwrap();
    let seeds = [0u64, 1, 2, 3];
    let expected: Vec<Vec<u8>> = seeds
        .iter()
        .map(|seed| {
            translated(
                root,
                &input,
                &["--name", "drop", "--seed", &seed.to_string()],
            )
        })
        .collect();
    assert_ne!(
        expected[0], expected[1],
        "the seed changes nothing: the test would prove nothing"
    );
    // Three workers: requests run at once, each holding the random stream for its draws.
    let server = Server::start(root, &["--workers", "3"]);
    let replies: Vec<(u64, u16, Vec<u8>)> = std::thread::scope(|scope| {
        let clients: Vec<_> = seeds
            .iter()
            .cycle()
            .take(12)
            .map(|&seed| {
                let (server, bytes) = (&server, &bytes);
                scope.spawn(move || {
                    let (status, body) = post(
                        server,
                        &format!("/api/translate?model=drop&seed={seed}"),
                        bytes,
                    );
                    (seed, status, body)
                })
            })
            .collect();
        clients.into_iter().map(|c| c.join().unwrap()).collect()
    });
    for (seed, status, body) in replies {
        assert_eq!(status, 200);
        assert!(
            body == expected[seed as usize],
            "seed {seed} gave another image"
        );
    }
    let (_, health) = get(&server, "/healthz");
    assert_eq!(
        json(&health)["batched"],
        0,
        "test-mode requests ran batched"
    );
}

#[test]
fn runs_that_appear_change_and_go_are_served_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // No run yet: the server starts on the empty checkpoints folder and serves none.
    std::fs::create_dir(root.join("checkpoints")).unwrap();
    let server = Server::start(root, &[]);
    assert_eq!(json(&get(&server, "/api/models").1), serde_json::json!([]));
    let listed = |wanted: &[&str]| {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let models = json(&get(&server, "/api/models").1);
            if names(&models) == wanted {
                return models;
            }
            assert!(Instant::now() < deadline, "{models}, not {wanted:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };

    trained(root, "late", &["--save_epoch_freq", "1"]);
    let models = listed(&["late"]);
    assert_eq!(models[0]["epochs"], serde_json::json!(["latest", "2", "1"]));
    let (status, body) = post(&server, "/api/translate?model=late&epoch=2", &png(32, 32));
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    // The page opens with an input of the run's own data, at the canvas size, and names the
    // demo's labels.
    assert_eq!(models[0]["example"], true);
    let (status, example) = get_bytes(&server, "/api/models/late/example");
    assert_eq!(status, 200);
    let example = image::load_from_memory(&example).unwrap();
    assert_eq!((example.width(), example.height()), (32, 32));
    assert_eq!(get(&server, "/api/models/nope/example").0, 404);
    let labels_of = |models: &serde_json::Value| models[0]["palette"]["names"].clone();
    assert!(
        labels_of(&models)
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("sky")),
        "{models}"
    );
    // A run names its labels in labels.json; one that cannot be read is reported.
    let labels = root.join("checkpoints/late/labels.json");
    std::fs::write(&labels, r##"{"#283ca0": "heaven"}"##).unwrap();
    std::thread::sleep(Duration::from_millis(600));
    let renamed = json(&get(&server, "/api/models").1);
    assert!(
        labels_of(&renamed)
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("heaven")),
        "{renamed}"
    );
    std::fs::write(&labels, r##"{"blue": "heaven"}"##).unwrap();
    std::thread::sleep(Duration::from_millis(600));
    let health = json(&get(&server, "/healthz").1);
    assert_eq!(health["models"], 0, "{health}");
    let error = health["skipped"][0]["error"].as_str().unwrap();
    assert!(
        error.contains("labels.json") && error.contains("'blue'"),
        "{error}"
    );
    std::fs::remove_file(&labels).unwrap();
    listed(&["late"]);

    // A run whose generator cannot be read is reported, not served; a deleted run goes.
    let broken = root.join("checkpoints/broken");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(broken.join("latest_net_G.bpk"), b"not weights").unwrap();
    std::thread::sleep(Duration::from_millis(600));
    let health = json(&get(&server, "/healthz").1);
    assert_eq!(health["models"], 1);
    assert_eq!(health["skipped"][0]["name"], "broken", "{health}");
    std::fs::remove_dir_all(root.join("checkpoints/late")).unwrap();
    listed(&[]);
    let (status, _) = post(&server, "/api/translate?model=late", &png(32, 32));
    assert_eq!(status, 404);
}
