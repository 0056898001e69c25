//! AMVLM's text-guided segmentation end to end on the CPU, through the command line: on synthetic
//! chest radiographs a small VLM is pre-trained, then `train amvlm-seg` trains each method (the
//! run folder, the labeled draw, validation and best/, exact resume), `eval-model` scores the test
//! split and the text mask, `predict --prompt` writes the mask and the text mask at the image's
//! size, and bad input is refused with a message.

use semiseg_integration::{cli, one_training_at_a_time, train_log};
use std::path::{Path, PathBuf};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A tiny VLM (64×64 images, 16×16 patches, width 32) trained for 2 epochs.
const VLM: &str = r#"
image_size = 64
patch_size = 16
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
batch_size = 8
epochs = 2
checkpoint_every = 1
"#;

/// A tiny segmenter: UNet width 4, 4 + 4 images a step, 3 epochs.
const SEG: &str = r#"
width = 4
labeled_bs = 4
unlabeled_bs = 4
lr = 0.001
epochs = 3
patience = 0
"#;

struct Setup {
    _dir: tempfile::TempDir,
    data: PathBuf,
    seg: PathBuf,
    runs: PathBuf,
    vlm: PathBuf,
}

/// Synthetic radiographs (16 train, 4 val, 4 test; two or three lesions each) and a VLM
/// pre-trained on them.
fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("synth2d");
    cli(&[
        "synth",
        "2d",
        "--out",
        s(&data),
        "--train",
        "16",
        "--val",
        "4",
        "--test",
        "4",
        "--size",
        "64",
        "--min-lesions",
        "2",
    ])
    .unwrap();
    let vlm_cfg = dir.path().join("vlm.toml");
    std::fs::write(&vlm_cfg, VLM).unwrap();
    let seg = dir.path().join("seg.toml");
    std::fs::write(&seg, SEG).unwrap();
    let runs = dir.path().join("runs");
    cli(&[
        "train",
        "amvlm",
        "--data",
        s(&data),
        "--config",
        s(&vlm_cfg),
        "--backend",
        "cpu",
        "--runs",
        s(&runs),
        "--name",
        "vlm",
        "--quiet",
    ])
    .unwrap();
    Setup {
        vlm: runs.join("vlm"),
        _dir: dir,
        data,
        seg,
        runs,
    }
}

fn train(st: &Setup, name: &str, extra: &[&str]) -> Result<String, String> {
    let mut args = vec![
        "train",
        "amvlm-seg",
        "--data",
        s(&st.data),
        "--vlm",
        s(&st.vlm),
        "--config",
        s(&st.seg),
        "--labeled",
        "25%",
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

fn manifest_keys(run: &Path, list: &str) -> Vec<String> {
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("manifest.json")).unwrap()).unwrap();
    m[list]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn text_guided_segmentation_trains_resumes_evaluates_and_predicts() {
    let _g = one_training_at_a_time();
    let st = setup();

    // the text-guided run: its folder, the labeled draw, validation, best/
    let out = train(&st, "tg", &[]).unwrap();
    assert!(
        out.contains("text-guided, 4 labeled + 12 unlabeled training images (25%), 4 validation")
            && out.contains("epochs 3/3")
            && out.contains("best validation Dice"),
        "{out}"
    );
    let tg = st.runs.join("tg");
    for f in [
        "config.toml",
        "run.json",
        "manifest.json",
        "train_log.csv",
        "epochs.csv",
        "report.md",
        "vlm/encoders.mpk",
        "vlm/vocab.txt",
        "best/student.mpk",
    ] {
        assert!(tg.join(f).exists(), "no {f}");
    }
    let (labeled, unlabeled) = (
        manifest_keys(&tg, "labeled"),
        manifest_keys(&tg, "unlabeled"),
    );
    assert_eq!((labeled.len(), unlabeled.len()), (4, 12));
    assert!(labeled.iter().all(|k| !unlabeled.contains(k)));
    let log = train_log(&tg).0;
    assert_eq!(
        log[0],
        "epoch,step,lr,loss,sup,fuse,text,tg,ground,trust,grad_norm"
    );
    // our text branch (A8, the default): every term but L_text (off) at every step (1 step an
    // epoch: 4 labeled / 4), the trust ρ in [0, 1]
    assert_eq!(log.len(), 1 + 3);
    for l in &log[1..] {
        let row: Vec<&str> = l.split(',').collect();
        assert!(row[6].is_empty(), "{l}");
        assert!(
            row.iter().enumerate().all(|(i, v)| i == 6 || !v.is_empty()),
            "{l}"
        );
        let rho: f64 = row[9].parse().unwrap();
        assert!((0.0..=1.0).contains(&rho), "{l}");
    }
    let cfg = std::fs::read_to_string(tg.join("config.toml")).unwrap();
    assert!(cfg.contains("text_branch = \"grounded\""), "{cfg}");

    // A6 as published: L_text at every step, no grounding and no trust; and without L_tg (the
    // ablation) the TMG still gives the text mask at every step and is saved (it was dropped
    // after the first step: the student then trained as a plain mean teacher)
    for (name, extra) in [
        ("a6", &["--text-branch", "a6"][..]),
        ("a6-no-tg", &["--text-branch", "a6", "--no-tg-loss"][..]),
    ] {
        train(&st, name, &[extra, &["--epochs", "2"][..]].concat()).unwrap();
        let run = st.runs.join(name);
        let log = train_log(&run).0;
        assert_eq!(log.len(), 1 + 2, "{log:?}");
        for l in &log[1..] {
            let row: Vec<&str> = l.split(',').collect();
            assert!(
                !row[5].is_empty() && !row[6].is_empty(),
                "{name}: fuse, text: {l}"
            );
            assert_eq!(row[7].is_empty(), name == "a6-no-tg", "{name}: L_tg: {l}");
            assert!(row[8].is_empty() && row[9].is_empty(), "{name}: {l}");
        }
        for c in std::fs::read_dir(run.join("checkpoints")).unwrap() {
            let c = c.unwrap().path();
            assert!(
                c.join("tmg.mpk").is_file(),
                "{name}: no tmg.mpk in {}",
                c.display()
            );
        }
    }
    let run_json = std::fs::read_to_string(tg.join("run.json")).unwrap();
    assert!(run_json.contains("\"kind\": \"amvlm-seg\"") && run_json.contains("\"vlm\""));

    // the same run stopped after an epoch and resumed logs exactly the same losses
    train(&st, "tg-stop", &["--stop-after", "1"]).unwrap();
    let out = cli(&[
        "train",
        "amvlm-seg",
        "--resume",
        s(&st.runs.join("tg-stop")),
        "--backend",
        "cpu",
        "--quiet",
    ])
    .unwrap();
    assert!(
        out.contains("resuming") && out.contains("epochs 3/3"),
        "{out}"
    );
    assert_eq!(train_log(&st.runs.join("tg-stop")).0, log, "resume differs");

    // the baselines: the mean teacher has a consistency term and no text, supervised neither
    for (method, fuse, text) in [("mean-teacher", true, false), ("supervised", false, false)] {
        let name = format!("b-{method}");
        train(&st, &name, &["--method", method, "--epochs", "1"]).unwrap();
        let log = train_log(&st.runs.join(&name)).0;
        let row: Vec<&str> = log[1].split(',').collect();
        assert_eq!(
            (!row[5].is_empty(), !row[6].is_empty()),
            (fuse, text),
            "{method}: {row:?}"
        );
        assert!(row[7].is_empty(), "{method} has no L_tg");
    }

    // our prompt option: the TMG scores the prompt's word embeddings; the run's config and its
    // bundle's card say so (the page and predict build the TMG from the card)
    let words = st.runs.join("tg-words");
    train(
        &st,
        "tg-words",
        &["--prompt-embedding", "words", "--epochs", "1"],
    )
    .unwrap();
    let cfg = std::fs::read_to_string(words.join("config.toml")).unwrap();
    assert!(cfg.contains("prompt_embedding = \"words\""), "{cfg}");
    let words_bundle = st.runs.join("tg-words.semiseg");
    cli(&["export", "--run", s(&words), "-o", s(&words_bundle)]).unwrap();
    let card = semiseg::infer::ModelBundle::decode(&std::fs::read(&words_bundle).unwrap())
        .unwrap()
        .card;
    assert_eq!(
        card.image2d.unwrap().prompt_embedding,
        semiseg::amvlm::PromptEmbedding::Words
    );
    let err = train(&st, "tg-mean", &["--prompt-embedding", "mean"]).unwrap_err();
    assert!(err.contains("`global`") && err.contains("`words`"), "{err}");

    // eval-model: the test split, student and text mask, a CSV with a mean row, PNG masks
    let out = cli(&[
        "eval-model",
        "--run",
        s(&tg),
        "--data",
        s(&st.data),
        "--backend",
        "cpu",
    ])
    .unwrap();
    assert!(out.contains("mean (4 images)"), "{out}");
    // every test image has two or more lesions: each lesion's phrase is a prompt
    assert!(
        out.contains("prompt localisation, trained TMG:")
            && out.contains("untrained TMG")
            && out.contains("lesion prompts put the text mask on the lesion they name"),
        "{out}"
    );
    let loc: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(tg.join("predictions-last/localisation.json")).unwrap(),
    )
    .unwrap();
    let prompts = loc["trained"]["prompts"].as_u64().unwrap();
    assert!(prompts >= 8, "{loc}");
    let chance = loc["trained"]["chance"].as_f64().unwrap();
    assert!(chance > 0.0 && chance <= 0.5, "{loc}");
    let csv = std::fs::read_to_string(tg.join("predictions-last/metrics.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows[0], "image,dice,iou,text_dice,text_iou");
    assert_eq!(rows.len(), 1 + 4 + 1);
    assert!(rows[5].starts_with("mean,"));
    let cells: Vec<f64> = rows[5]
        .split(',')
        .skip(1)
        .map(|v| v.parse().unwrap())
        .collect();
    assert!(cells.iter().all(|v| (0.0..=1.0).contains(v)), "{cells:?}");
    let masks = std::fs::read_dir(tg.join("predictions-last/masks"))
        .unwrap()
        .count();
    assert_eq!(masks, 4);
    // ... never over an existing folder
    let err = cli(&[
        "eval-model",
        "--run",
        s(&tg),
        "--data",
        s(&st.data),
        "--backend",
        "cpu",
    ])
    .unwrap_err();
    assert!(err.contains("already exists"), "{err}");
    // --split val: the validation images, in files no report or export takes for test scores
    let out = cli(&[
        "eval-model",
        "--run",
        s(&tg),
        "--data",
        s(&st.data),
        "--split",
        "val",
        "--backend",
        "cpu",
    ])
    .unwrap();
    assert!(
        out.contains("the validation split") && out.contains("Val_Folder"),
        "{out}"
    );
    let val = tg.join("validation-last");
    let val_csv = std::fs::read_to_string(val.join("metrics-val.csv")).unwrap();
    let keys: Vec<&str> = val_csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert!(
        keys.len() == 1 + 4 && keys.iter().all(|k| !k.starts_with("test")),
        "{keys:?}"
    );
    assert!(val.join("localisation-val.json").is_file() && !val.join("metrics.csv").exists());
    cli(&["report", "--run", s(&tg)]).unwrap();
    let report = std::fs::read_to_string(tg.join("report.md")).unwrap();
    assert!(
        report.contains("predictions-last") && !report.contains("validation-last"),
        "{report}"
    );
    let err = cli(&[
        "export",
        "--run",
        s(&tg),
        "-o",
        s(&st.runs.join("val-scored.semiseg")),
        "--metrics",
        s(&val.join("metrics-val.csv")),
    ])
    .unwrap_err();
    assert!(err.contains("validation scores"), "{err}");

    // predict: a mask and a text mask at the image's own size
    let image = std::fs::read_dir(st.data.join("Test_Folder/img"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let (mask, map) = (st.runs.join("m.png"), st.runs.join("t.png"));
    let out = cli(&[
        "predict",
        "--model",
        s(&tg),
        s(&image),
        "--prompt",
        "Bilateral pulmonary infection, upper left lung",
        "-o",
        s(&mask),
        "--text-mask",
        s(&map),
        "--backend",
        "cpu",
    ])
    .unwrap();
    assert!(
        out.contains("text mask of") && out.contains("foreground pixels"),
        "{out}"
    );
    for p in [&mask, &map] {
        let img = image::open(p).unwrap();
        assert_eq!((img.width(), img.height()), (64, 64), "{}", p.display());
    }
    let values: std::collections::BTreeSet<u8> = image::open(&mask)
        .unwrap()
        .to_luma8()
        .into_raw()
        .into_iter()
        .collect();
    assert!(values.iter().all(|&v| v == 0 || v == 255), "{values:?}");

    // the report and compare read segmentation runs: validation by epoch, eval-model's scores
    let report = std::fs::read_to_string(tg.join("report.md")).unwrap();
    assert!(
        report.contains("| `predictions-last` | 4 |") && report.contains("--vlm"),
        "{report}"
    );
    let out = cli(&["compare", s(&tg), s(&st.runs.join("b-mean-teacher"))]).unwrap();
    assert!(
        out.contains("Validation during training (best/ is chosen on it)")
            && out.contains("validation Dice %")
            && !out.contains("validation-last"),
        "{out}"
    );

    // export: a 2D bundle with the eval-model scores on its card; predict reads it and gives the
    // run's mask (f16 weights: nearly every pixel the same)
    let bundle = st.runs.join("tg.semiseg");
    let out = cli(&[
        "export",
        "--run",
        s(&tg),
        "-o",
        s(&bundle),
        "--metrics",
        s(&tg.join("predictions-last/metrics.csv")),
    ])
    .unwrap();
    assert!(
        out.contains("test Dice") && out.contains("over 4 images"),
        "{out}"
    );
    let from_bundle = st.runs.join("mb.png");
    cli(&[
        "predict",
        "--model",
        s(&bundle),
        s(&image),
        "--prompt",
        "Bilateral pulmonary infection, upper left lung",
        "-o",
        s(&from_bundle),
        "--backend",
        "cpu",
    ])
    .unwrap();
    let px = |p: &Path| image::open(p).unwrap().to_luma8().into_raw();
    let (a, b) = (px(&mask), px(&from_bundle));
    let same = a.iter().zip(&b).filter(|(x, y)| x == y).count();
    assert!(
        same * 100 >= a.len() * 99,
        "{same} of {} pixels agree",
        a.len()
    );
    // a DICOM (a real chest radiograph, MONOCHROME1) is read as the page reads it: the mask at
    // its own size
    let dcm = semiseg_integration::fixtures().join("dicom/chest_cr.dcm");
    let from_dicom = st.runs.join("chest_mask.png");
    let out = cli(&[
        "predict",
        "--model",
        s(&bundle),
        s(&dcm),
        "--prompt",
        "Bilateral pulmonary infection, upper left lung",
        "-o",
        s(&from_dicom),
        "--backend",
        "cpu",
    ])
    .unwrap();
    assert!(out.contains("foreground pixels of 143888 "), "{out}");
    let img = image::open(&from_dicom).unwrap();
    assert_eq!((img.width(), img.height()), (368, 391));
    let err = cli(&[
        "predict",
        "--model",
        s(&bundle),
        s(&semiseg_integration::fixtures().join("dicom/rtdose.dcm")),
        "-o",
        s(&st.runs.join("dose.png")),
        "--backend",
        "cpu",
    ])
    .unwrap_err();
    assert!(err.contains("holds 15 frames"), "{err}");
    // --checkpoint best: the student and the TMG of the best validation epoch (best/ keeps both;
    // before, the TMG and the card's steps were the last checkpoint's)
    assert!(tg.join("best/tmg.mpk").is_file(), "best/ has no TMG");
    let best_state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tg.join("best/state.json")).unwrap()).unwrap();
    let best_bundle = st.runs.join("tg-best.semiseg");
    cli(&[
        "export",
        "--run",
        s(&tg),
        "-o",
        s(&best_bundle),
        "--checkpoint",
        "best",
    ])
    .unwrap();
    let card = semiseg::infer::ModelBundle::decode(&std::fs::read(&best_bundle).unwrap())
        .unwrap()
        .card;
    assert_eq!(card.steps as u64, best_state["step"].as_u64().unwrap());
    assert_eq!(card.weights, "the best on the validation cases");
    // a 3D model refuses a prompt, a 2D bundle refuses to be a 3D one
    let la = Path::new(env!("CARGO_MANIFEST_DIR")).join("../www/assets/models/la-light.semiseg");
    let err = cli(&[
        "predict",
        "--model",
        s(&la),
        s(&image),
        "--prompt",
        "left atrium",
        "-o",
        s(&st.runs.join("x.png")),
    ])
    .unwrap_err();
    assert!(
        err.contains("--prompt needs a text-guided 2D model"),
        "{err}"
    );

    // bad input: an empty prompt, a prompt of unknown words, a prompt for a baseline, a text
    // file as the image
    let bad = st.runs.join("bad.png");
    let args = |model: &Path, img: &Path, prompt: &str| {
        cli(&[
            "predict",
            "--model",
            s(model),
            s(img),
            "--prompt",
            prompt,
            "-o",
            s(&bad),
            "--backend",
            "cpu",
        ])
    };
    assert!(args(&tg, &image, "  ")
        .unwrap_err()
        .contains("prompt is empty"));
    // (the trained vocabulary spells any word of letters it saw; these it cannot)
    let err = args(&tg, &image, "日本 ΣΩ").unwrap_err();
    assert!(
        err.contains("none of the prompt's words (日本, ΣΩ) is in this model's vocabulary"),
        "{err}"
    );
    let mt = st.runs.join("b-mean-teacher");
    assert!(args(&mt, &image, "upper left lung")
        .unwrap_err()
        .contains("trained no text mask"));
    let text = st.runs.join("notes.png");
    std::fs::write(&text, "not an image").unwrap();
    assert!(args(&tg, &text, "upper left")
        .unwrap_err()
        .contains("not a readable PNG, JPEG, TIFF or DICOM image"));
    assert!(!bad.exists());
}

#[test]
fn bad_segmentation_runs_are_refused_before_a_folder_exists() {
    let _g = one_training_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("synth2d");
    cli(&[
        "synth",
        "2d",
        "--out",
        s(&data),
        "--train",
        "8",
        "--val",
        "2",
        "--test",
        "2",
        "--size",
        "64",
    ])
    .unwrap();
    let runs = dir.path().join("runs");
    let base = |vlm: &Path, extra: &[&str]| {
        let mut a = vec![
            "train",
            "amvlm-seg",
            "--data",
            s(&data),
            "--vlm",
            s(vlm),
            "--backend",
            "cpu",
            "--runs",
            s(&runs),
        ];
        a.extend_from_slice(extra);
        cli(&a)
    };
    // --vlm must be a pre-training run
    let err = base(&data, &[]).unwrap_err();
    assert!(err.contains("not a semiseg run folder"), "{err}");
    // a labeled amount that is not one
    let err = base(&data, &["--labeled", "150%"]).unwrap_err();
    assert!(err.contains("give a count"), "{err}");
    assert!(!runs.exists(), "a refused run left a folder");
}
