//! AMVLM pre-training end to end on the CPU, through the command line: on synthetic chest
//! radiographs a small model learns alignment (held-out retrieval beats the untrained model and
//! lesion phrases light up their lesions more often than chance), a resumed run equals the
//! uninterrupted one, `eval-amvlm` and `vocab` work, a BERT checkpoint (all-MiniLM-L6-v2) starts
//! the text encoder, the real MoNuSeg folder trains, and bad input is refused with a message.

use semiseg_integration::{cli, minilm, monuseg_lvit, one_training_at_a_time, train_log};
use std::path::{Path, PathBuf};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A small configuration (64×64 images, 8×8 patches, width 32).
const SMALL: &str = r#"
image_size = 64
patch_size = 8
vit_width = 32
vit_depth = 1
vit_heads = 2
vit_mlp = 64
text_width = 32
text_layers = 1
text_heads = 2
text_intermediate = 64
vocab_size = 200
embed_dim = 32
head_hidden = 64
pdt_heads = 2
pdt_mlp = 64
lr = 0.001
batch_size = 16
epochs = 2
checkpoint_every = 1
"#;

struct Setup {
    dir: tempfile::TempDir,
    data: PathBuf,
    config: PathBuf,
    runs: PathBuf,
}

fn setup(train: usize, config: &str) -> Setup {
    setup_with(train, 32, config, &[])
}

fn setup_with(train: usize, val: usize, config: &str, synth: &[&str]) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("synth2d");
    let (n, v) = (train.to_string(), val.to_string());
    let mut args = vec![
        "synth",
        "2d",
        "--out",
        s(&data),
        "--train",
        &n,
        "--val",
        &v,
        "--test",
        "16",
        "--size",
        "64",
    ];
    args.extend_from_slice(synth);
    cli(&args).unwrap();
    let cfg = dir.path().join("small.toml");
    std::fs::write(&cfg, config).unwrap();
    let runs = dir.path().join("runs");
    Setup {
        dir,
        data,
        config: cfg,
        runs,
    }
}

/// `train amvlm --resume RUN` on the CPU, quietly.
fn resume(run: &Path) -> Result<String, String> {
    cli(&[
        "train",
        "amvlm",
        "--resume",
        s(run),
        "--backend",
        "cpu",
        "--quiet",
    ])
}

fn train(st: &Setup, name: &str, extra: &[&str]) -> Result<String, String> {
    let mut args = vec![
        "train",
        "amvlm",
        "--data",
        s(&st.data),
        "--config",
        s(&st.config),
        "--backend",
        "cpu",
        "--runs",
        s(&st.runs),
        "--name",
        name,
        "--quiet",
    ];
    args.extend_from_slice(extra);
    cli(&args)
}

fn metrics(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn a_run_folder_has_everything_and_resume_is_exact() {
    let _g = one_training_at_a_time();
    let st = setup(48, SMALL);
    let full = train(&st, "full", &[]).unwrap();
    assert!(full.contains("epochs 2/2"), "{full}");
    let run = st.runs.join("full");
    for f in [
        "config.toml",
        "vocab.txt",
        "run.json",
        "manifest.json",
        "train_log.csv",
        "epochs.csv",
        "best/encoders.mpk",
        "evaluations/initial/metrics.json",
        "evaluations/epoch_0002/metrics.json",
        "report.md",
        "curves.svg",
    ] {
        assert!(run.join(f).exists(), "{f} missing");
    }
    let report = std::fs::read_to_string(run.join("report.md")).unwrap();
    for want in [
        "**Trained** 2 of 2 epochs (100.0%)",
        "48 train",
        "## Epochs (`epochs.csv`)",
        "semiseg train amvlm --config",
    ] {
        assert!(report.contains(want), "{want:?} not in\n{report}");
    }
    let maps = std::fs::read_dir(run.join("evaluations/epoch_0002/maps"))
        .unwrap()
        .count();
    assert!(maps >= 4, "similarity maps: {maps}");
    let manifest = metrics(&run.join("manifest.json"));
    assert_eq!(manifest["train"].as_array().unwrap().len(), 48);
    assert_eq!(manifest["held_out_split"], "Val_Folder");
    assert_eq!(
        manifest["train"][0]["image_sha256"].as_str().unwrap().len(),
        64
    );

    // a finished run resumed says so and trains nothing
    let again = resume(&run).unwrap();
    assert!(
        again.contains("has finished its 2 epochs") && again.contains("eval-amvlm --run"),
        "{again}"
    );

    // Stop after one epoch, resume: the log equals the uninterrupted run's.
    let part = train(&st, "part", &["--stop-after", "1"]).unwrap();
    assert!(part.contains("continue with"), "{part}");
    let resumed = resume(&st.runs.join("part")).unwrap();
    assert!(
        resumed.contains("resuming") && resumed.contains("epochs 2/2"),
        "{resumed}"
    );
    // --time-limit: an epoch that would end past the limit is not started; resume as above
    let timed = train(&st, "timed", &["--time-limit", "1ms"]).unwrap();
    assert!(
        timed.contains("time limit 1ms reached: stopped after epoch 1,")
            && timed.contains("continue with"),
        "{timed}"
    );
    resume(&st.runs.join("timed")).unwrap();
    let (full, (part, secs)) = (
        train_log(&st.runs.join("full")),
        train_log(&st.runs.join("part")),
    );
    assert_eq!(full.0, part);
    assert_eq!(full.0, train_log(&st.runs.join("timed")).0);
    // the training clock continues across the resume instead of restarting at 0
    assert!(secs.windows(2).all(|w| w[1] >= w[0]), "{secs:?}");
    // compared, the two runs have the same config and the same held-out recall at epoch 2
    let out = cli(&[
        "compare",
        s(&st.runs.join("full")),
        s(&st.runs.join("part")),
    ])
    .unwrap();
    let row = |name: &str| {
        out.lines()
            .find(|l| l.starts_with(&format!("| {name} ")) && l.matches('|').count() == 5)
            .unwrap_or_else(|| panic!("no {name} row in\n{out}"))
            .split('|')
            .skip(2)
            .map(str::trim)
            .collect::<Vec<_>>()
    };
    assert!(
        out.contains("at epoch 2, the last epoch every run evaluated (epochs.csv)")
            && out.contains("| none "),
        "{out}"
    );
    assert_eq!(row("full"), row("part"), "{out}");

    // Resuming with other data is refused before anything is written.
    let other = st.dir.path().join("other");
    cli(&[
        "synth",
        "2d",
        "--out",
        s(&other),
        "--train",
        "16",
        "--val",
        "4",
        "--size",
        "48",
    ])
    .unwrap();
    let err = cli(&[
        "train",
        "amvlm",
        "--resume",
        s(&run),
        "--data",
        s(&other),
        "--backend",
        "cpu",
    ])
    .unwrap_err();
    assert!(
        err.contains("differ from the ones this run started with"),
        "{err}"
    );

    // eval-amvlm on the test split with the best weights; vocab refuses to overwrite.
    let ev = cli(&[
        "eval-amvlm",
        "--run",
        s(&run),
        "--data",
        s(&st.data),
        "--split",
        "test",
        "--backend",
        "cpu",
    ])
    .unwrap();
    assert!(
        ev.contains("Test_Folder (best weights, on cpu): retrieval on 16 held-out pairs"),
        "{ev}"
    );
    let vocab = st.dir.path().join("vocab.txt");
    let out = cli(&[
        "vocab",
        "--data",
        s(&st.data),
        "--out",
        s(&vocab),
        "--size",
        "150",
    ])
    .unwrap();
    assert!(
        out.contains("tokens from 48 training descriptions"),
        "{out}"
    );
    assert!(std::fs::read_to_string(&vocab)
        .unwrap()
        .starts_with("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n"));
    let err = cli(&["vocab", "--data", s(&st.data), "--out", s(&vocab)]).unwrap_err();
    assert!(err.contains("exists"), "{err}");
    // A run trained with that vocabulary file.
    let with_vocab = train(&st, "vocab", &["--vocab", s(&vocab), "--epochs", "1"]).unwrap();
    assert!(with_vocab.contains("epochs 1/1"), "{with_vocab}");
}

/// Train a learning-check model (`config`: LEARN, or LEARN with more epochs) on synthetic radiographs with
/// one lesion each; the held-out metrics before and after, and the CLI's output.
fn learn_run(config: &str) -> (serde_json::Value, serde_json::Value, String) {
    let _g = one_training_at_a_time();
    let st = setup_with(
        LEARN_TRAIN,
        96,
        config,
        &["--min-lesions", "1", "--max-lesions", "1", "--seed", "11"],
    );
    let out = train(&st, "learn", &[]).unwrap();
    let run = st.runs.join("learn");
    let before = metrics(&run.join("evaluations/initial/metrics.json"));
    let last = std::fs::read_dir(run.join("evaluations"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("epoch_")
        })
        .max()
        .unwrap();
    (before, metrics(&last.join("metrics.json")), out)
}

/// The issue's learning check, retrieval part: a fixed budget (480 CPU steps, about 2 minutes)
/// of the full A5 objective beats the untrained model on held-out retrieval, and text→image
/// recall@1 is well above a random scorer's. Measured: untrained t→i R@1 18.8 %, trained 67.7 %
/// (chance 17.2 %), docs/results.md.
#[test]
fn pretraining_learns_retrieval_on_synthetic_radiographs() {
    let (before, after, out) = learn_run(LEARN);
    let r1 = |m: &serde_json::Value| m["i2t"][0].as_f64().unwrap() + m["t2i"][0].as_f64().unwrap();
    assert!(
        r1(&after) > r1(&before) + 0.2,
        "retrieval R@1 (i2t + t2i) {} -> {}\n{out}",
        r1(&before),
        r1(&after)
    );
    let (t2i, chance) = (
        after["t2i"][0].as_f64().unwrap(),
        after["t2i_chance"][0].as_f64().unwrap(),
    );
    assert!(
        t2i > 2.0 * chance,
        "text→image R@1 {t2i} vs chance {chance}\n{out}"
    );
}

/// The issue's learning check, localisation part: after 1440 CPU steps (60 epochs, about 6 minutes
/// here) lesion phrases point at their lesions more often than a random patch does, and retrieval
/// is learned both ways. Measured: phrase→patch hits 14.6 % (chance 12.0 %), image→text R@1
/// 89.6 %, text→image R@1 100 % (docs/results.md).
///
/// Too long for CI, so ignored by default: `cargo test -p semiseg-integration amvlm:: -- --ignored`.
#[test]
#[ignore = "6 CPU minutes; run with --ignored (docs/results.md)"]
fn pretraining_localises_lesion_phrases_on_synthetic_radiographs() {
    // LEARN for 60 epochs (1440 steps), evaluated at the end
    let long = LEARN
        .replace("\nepochs = 20\n", "\nepochs = 60\n")
        .replace("\ncheckpoint_every = 20\n", "\ncheckpoint_every = 60\n");
    assert!(long.contains("\nepochs = 60\n") && long.contains("\ncheckpoint_every = 60\n"));
    let (before, after, out) = learn_run(&long);
    let loc = &after["localisation"];
    let (hit, chance) = (
        loc["hit_rate"].as_f64().unwrap(),
        loc["chance"].as_f64().unwrap(),
    );
    assert!(loc["phrases"].as_u64().unwrap() >= 40);
    assert!(
        hit > chance,
        "phrase→patch hit rate {hit} vs chance {chance}\n{out}"
    );
    for dir in ["i2t", "t2i"] {
        let (r1, chance, untrained) = (
            after[dir][0].as_f64().unwrap(),
            after[format!("{dir}_chance")][0].as_f64().unwrap(),
            before[dir][0].as_f64().unwrap(),
        );
        assert!(
            r1 > 2.0 * chance && r1 > untrained,
            "{dir} R@1 {r1} (untrained {untrained}, chance {chance})\n{out}"
        );
    }
}

/// The learning-check configuration: docs/configs/amvlm-cpu-small.toml with 16-pixel patches
/// (a 4 x 4 grid; with 8-pixel patches the ViT sits on a plateau for about 1300 steps before
/// L_ITC falls, docs/results.md), lr 1e-3 and 20 epochs of 24 steps.
const LEARN_TRAIN: usize = 768;
const LEARN: &str = r#"
image_size = 64
patch_size = 16
vit_width = 64
vit_depth = 2
vit_heads = 4
vit_mlp = 128
text_width = 64
text_layers = 2
text_heads = 4
text_intermediate = 128
vocab_size = 200
embed_dim = 64
head_hidden = 256
pdt_heads = 4
pdt_mlp = 128
lr = 0.001
batch_size = 32
epochs = 20
checkpoint_every = 20
"#;

/// `--image-init` starts the image encoder from a timm ViT checkpoint (written here from a ViT of
/// another shape than the configuration's): the run takes its width, patch size, MLP width and
/// image size, keeps the configured depth and heads, and trains; a depth beyond the checkpoint's
/// blocks and a file that is not a ViT checkpoint are refused before a run folder exists.
#[test]
fn a_timm_checkpoint_starts_the_image_encoder() {
    let _g = one_training_at_a_time();
    let st = setup(32, SMALL);
    let vit = semiseg::nets::VitConfig::new()
        .with_image_size(64)
        .with_patch_size(16)
        .with_width(48)
        .with_depth(2)
        .with_heads(2)
        .with_mlp_width(96)
        .init::<burn::backend::Flex>(&Default::default());
    let dir = st.dir.path().join("deit-tiny");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("model.safetensors"), vit.to_timm_safetensors("")).unwrap();
    let out = train(&st, "vit", &["--image-init", s(&dir), "--epochs", "1"]).unwrap();
    assert!(out.contains("epochs 1/1"), "{out}");
    let cfg = std::fs::read_to_string(st.runs.join("vit/config.toml")).unwrap();
    for want in [
        "vit_width = 48",
        "patch_size = 16",
        "vit_mlp = 96",
        "image_size = 64",
        "vit_depth = 1",
    ] {
        assert!(cfg.contains(want), "{want} not in\n{cfg}");
    }
    let run_json = std::fs::read_to_string(st.runs.join("vit/run.json")).unwrap();
    assert!(run_json.contains("\"image_init\""), "{run_json}");
    let deeper = st.dir.path().join("deep.toml");
    std::fs::write(&deeper, SMALL.replace("vit_depth = 1", "vit_depth = 3")).unwrap();
    let err = cli(&[
        "train",
        "amvlm",
        "--data",
        s(&st.data),
        "--config",
        s(&deeper),
        "--image-init",
        s(&dir),
        "--runs",
        s(&st.runs),
        "--name",
        "deep",
    ])
    .unwrap_err();
    assert!(
        err.contains("2 blocks") && err.contains("vit_depth"),
        "{err}"
    );
    let err = train(&st, "notvit", &["--image-init", s(&st.config)]).unwrap_err();
    assert!(err.contains("not a safetensors file"), "{err}");
    assert!(!st.runs.join("deep").exists() && !st.runs.join("notvit").exists());
}

#[test]
fn minilm_starts_the_text_encoder_and_monuseg_trains() {
    let _g = one_training_at_a_time();
    let st = setup(32, SMALL);
    let out = train(
        &st,
        "minilm",
        &["--text-init", s(&minilm()), "--epochs", "1"],
    )
    .unwrap();
    assert!(out.contains("vocabulary 30522 tokens"), "{out}");
    let cfg = std::fs::read_to_string(st.runs.join("minilm/config.toml")).unwrap();
    assert!(
        cfg.contains("text_width = 384") && cfg.contains("text_layers = 6"),
        "{cfg}"
    );
    // --text-layers keeps the checkpoint's first N layers (spec A2: 6 of a 12-layer BERT)
    let first = |n: &str| {
        cli(&[
            "train",
            "amvlm",
            "--data",
            s(&st.data),
            "--config",
            s(&st.config),
            "--text-init",
            s(&minilm()),
            "--text-layers",
            n,
            "--print-config",
        ])
    };
    let printed = first("3").unwrap();
    assert!(printed.contains("text_layers = 3"), "{printed}");
    let err = first("7").unwrap_err();
    assert!(err.contains("has 6 layers; keep 1 to 6"), "{err}");
    // The real MoNuSeg folder (24 train / 6 val) as is.
    let mono = cli(&[
        "train",
        "amvlm",
        "--data",
        s(&monuseg_lvit()),
        "--config",
        s(&st.config),
        "--backend",
        "cpu",
        "--runs",
        s(&st.runs),
        "--name",
        "monuseg",
        "--epochs",
        "1",
        "--quiet",
    ])
    .unwrap();
    assert!(
        mono.contains("24 training pairs, 6 held-out (Val_Folder)"),
        "{mono}"
    );
}

#[test]
fn bad_input_is_refused_with_a_message() {
    let _g = one_training_at_a_time();
    let st = setup(8, SMALL);
    let not_lvit = st.dir.path().join("empty");
    std::fs::create_dir_all(&not_lvit).unwrap();
    let err = train(
        &Setup {
            data: not_lvit,
            ..setup(8, SMALL)
        },
        "x",
        &[],
    )
    .unwrap_err();
    assert!(err.to_lowercase().contains("train_folder"), "{err}");
    let err = train(&st, "y", &["--vocab", "/nonexistent/vocab.txt"]).unwrap_err();
    assert!(err.contains("/nonexistent/vocab.txt"), "{err}");
    let err = train(&st, "z", &["--text-init", s(st.dir.path())]).unwrap_err();
    assert!(err.contains("config.json"), "{err}");
    let bad = st.dir.path().join("bad.toml");
    std::fs::write(&bad, "image_size = 60\npatch_size = 8\n").unwrap();
    let err = cli(&[
        "train",
        "amvlm",
        "--data",
        s(&st.data),
        "--config",
        s(&bad),
        "--backend",
        "cpu",
        "--runs",
        s(&st.runs),
    ])
    .unwrap_err();
    assert!(err.contains("multiple of patch_size"), "{err}");
    // a damaged image stops the run before its folder exists
    let img = std::fs::read_dir(st.data.join("Train_Folder").join("img"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .min()
        .unwrap();
    std::fs::write(&img, b"not an image").unwrap();
    let err = train(&st, "damaged", &[]).unwrap_err();
    let name = img.file_name().unwrap().to_str().unwrap();
    assert!(err.contains(name), "{err}");
    assert!(
        !st.runs.exists(),
        "no run folder for a refused configuration or damaged data"
    );
}
