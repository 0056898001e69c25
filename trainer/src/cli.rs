//! The command-line grammar (clap derive). Each command's `--help` explains it with an example.

use crate::backend::BackendKind;
use crate::time_limit::parse_time_limit;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "semiseg",
    version,
    about = "Semi-supervised medical image segmentation: scans, metrics, training and inference",
    long_about = "Semi-supervised medical image segmentation (SimCVD, AMVLM).\n\n\
                  Inspect NIfTI scans, score segmentations like the literature (Dice, Jaccard, 95HD, ASD), \
                  and look at datasets and their labeled/unlabeled splits.",
    after_help = "Examples:\n  semiseg inspect scan.nii.gz\n  semiseg eval --pred preds/ --gt labelsTr/ --csv metrics.csv\n  semiseg dataset ../shared/data/la2018 --labeled 16"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show a scan's header: dimensions, spacing, data type, orientation, affine, intensities.
    #[command(
        after_help = "Example:\n  semiseg inspect ../shared/data/la2018/imagesTr/06SR5RBREL16DQ6M8LWS.nii.gz\n\n\
                      Reads .nii, .nii.gz and .hdr/.img pairs (NIfTI-1 and NIfTI-2, any byte order)."
    )]
    Inspect(InspectArgs),
    /// Score predicted masks against ground truth: Dice, Jaccard, 95HD, ASD per case and mean.
    #[command(after_help = EVAL_HELP)]
    Eval(EvalArgs),
    /// Show a dataset folder (MSD/nnU-Net layout, or LViT 2D image-text layout) and its splits.
    #[command(
        after_help = "Examples:\n  semiseg dataset ../shared/data/la2018 --labeled 16\n  semiseg dataset ../shared/data/la2018 --labeled 8 --seed 1337\n  semiseg dataset ../shared/data/monuseg-lvit\n\n\
                      The split comes from train.list/test.list in the folder when present. The labeled \
                      cases are the first N of train.list, as in UA-MT, DTC and SimCVD, or a seeded draw with --seed. \
                      A folder with Train_Folder/ (or Train_all/) is read as an LViT image-text dataset: every \
                      row of each <Split>_text.xlsx is checked against img/ and labelcol/, and each split's \
                      counts, image sizes and description lengths are shown (--labeled and --seed do not apply)."
    )]
    Dataset(DatasetArgs),
    /// Prepare the LA challenge's raw scans (lgemri.nrrd + laendo.nrrd per case) for training.
    #[command(
        after_help = "Example:\n  semiseg prepare-la \"2018LA_Seg_Training Set\" --out data/la2018\n\n\
                      Does the preprocessing of UA-MT, SimCVD and the papers in their line (spec B1): the label is \
                      laendo == 255; the image is z-scored over the whole scan; x and y are cropped to the label's \
                      bounding box plus a random 10..19 voxels a side (widened towards 112), z is kept. Writes \
                      imagesTr/ and labelsTr/ (.nii.gz), dataset.json, UA-MT's train.list (80) and test.list (20) \
                      restricted to the cases present, and preprocessing.json (each case's crop). The output folder \
                      must be new or empty; it appears only when every case is done."
    )]
    PrepareLa(PrepareLaArgs),
    /// Train a model (SimCVD and its baselines on 3D volumes; AMVLM vision-language pre-training).
    #[command(subcommand)]
    Train(TrainCommand),
    /// Evaluate a pre-trained AMVLM run: retrieval recall@1/5, phrase localisation, similarity maps.
    #[command(
        after_help = "Example:\n  semiseg eval-amvlm --run runs/amvlm-20261122-010000 --data data/synth2d --split test\n\n\
                      Writes metrics.json and word-to-patch similarity overlays (maps/*.png) into \
                      RUN/evaluations/<split>-<checkpoint>-<time>/."
    )]
    EvalAmvlm(EvalAmvlmArgs),
    /// Train a WordPiece vocabulary (vocab.txt) on the descriptions of an LViT-layout folder.
    #[command(
        after_help = "Example:\n  semiseg vocab --data data/synth2d --out data/synth2d-vocab.txt --size 400\n\n\
                      `train amvlm` trains one itself when given neither --vocab nor --text-init."
    )]
    Vocab(VocabArgs),
    /// Evaluate a trained run or model bundle on whole volumes: sliding window, masks, metrics.
    #[command(
        after_help = "Examples:\n  semiseg eval-model --run runs/simcvd-16L-20261122-010000 --data ../shared/data/la2018\n  \
                      semiseg eval-model --model www/assets/models/la-light.semiseg --data ../shared/data/la2018 --out /tmp/la-light --backend cpu\n\n\
                      Segments the test cases (test.list of the data folder, or --cases) with sliding windows \
                      (patch and stride from the run's config or the bundle's card), writes the masks aligned with \
                      each input into RUN/predictions-<checkpoint>/ (or --out; required for a bundle) and prints \
                      Dice, Jaccard, 95HD and ASD in voxels. --largest-component scores the masks after keeping \
                      only their largest connected component."
    )]
    EvalModel(EvalModelArgs),
    /// Export a trained run as a model bundle (weights + model card) for `predict` and the browser.
    #[command(
        after_help = "Example:\n  semiseg export --run runs/la-light-sup-16 --metrics runs/la-light-sup-16/predictions-last/metrics.csv -o la-light.semiseg\n\n\
                      The bundle is one file: a JSON model card (architecture, patch and stride, training data, \
                      method, steps, test metrics, notes) and the V-Net's weights (f16 by default), with their \
                      SHA-256. The browser page loads it, and `semiseg predict --model FILE` runs it natively."
    )]
    Export(ExportArgs),
    /// Write a run's report (report.md and curves.svg in the run folder) from its files.
    #[command(after_help = "Example:\n  semiseg report --run runs/la-simcvd-16\n\n\
                      The report says what was trained on which data with which seed, how far, the \
                      evaluations during training and of `eval-model`, the training curves (curves.svg, one \
                      panel per column of train_log.csv), the sessions and the commands that reproduce the run. \
                      Training writes it at the end of every session and `eval-model --run` after its evaluation; \
                      run this while a run is going. Only report.md and curves.svg are written.")]
    Report(ReportArgs),
    /// Compare runs side by side: config differences, progress, evaluations (a Markdown table).
    #[command(
        after_help = "Examples:\n  semiseg compare runs/la-simcvd-8 runs/la-sup-8\n  \
                      semiseg compare runs/la-simcvd-16 runs/la-simcvd-8 --step 2000 --csv compare.csv\n\n\
                      For each run: its method, data and seed, how far it trained, and what its config.toml \
                      changes against the first run's (e.g. method=supervised, use_pd=false for an ablation). \
                      Then every run's evaluation during training at one step (the last step every run \
                      evaluated, or --step; epochs for AMVLM runs), the headline metric (Dice, or recall@1) at \
                      every evaluated step, and the eval-model results in the run folders. Every number is read \
                      from the runs' files; runs in progress can be compared. --csv writes every evaluation of \
                      every run (values as the run files have them). Runs must be of one kind (SimCVD/V-Net or \
                      AMVLM)."
    )]
    Compare(CompareArgs),
    /// Segment one scan with a trained run and write the mask as NIfTI aligned with the scan.
    #[command(
        after_help = "Examples:\n  semiseg predict --model runs/simcvd-16L-20261122-010000 scan.nii.gz -o scan_mask.nii.gz\n  \
                      semiseg predict --model www/assets/models/la-light.semiseg --backend cpu --largest-component scan.nii.gz -o mask.nii.gz"
    )]
    Predict(PredictArgs),
    /// Generate synthetic datasets for tests and demos.
    #[command(subcommand)]
    Synth(SynthCommand),
    /// Benchmarks: time a training step and whole-volume inference on a backend.
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// One SimCVD training step (2+2 patches, student + EMA teacher) and sliding-window inference.
    #[command(
        after_help = "Examples:\n  semiseg bench simcvd --backend cuda --data ../shared/data/la2018\n  semiseg bench simcvd --backend cpu --n-filters 16 --steps 2\n\n\
                      Prints one markdown table row; docs/benchmarks.md collects them with the machine they ran on."
    )]
    Simcvd(BenchArgs),
    /// One AMVLM pre-training step and the embedding of one image and one prompt.
    #[command(
        after_help = "Examples:\n  semiseg bench amvlm --backend cuda --preset paper\n  semiseg bench amvlm --backend cpu --preset tiny --steps 5\n\n\
                      Random images and fixed prompts; the paper preset is ViT-B/16 at 224 + a 6x768 BERT with \
                      a 28,996-token table, batch 32. Prints one markdown table row for docs/benchmarks.md."
    )]
    Amvlm(BenchAmvlmArgs),
    /// One text-guided segmentation step (A6) and one prompt on one image.
    #[command(
        name = "amvlm-seg",
        after_help = "Examples:\n  semiseg bench amvlm-seg --backend cpu --preset tiny --steps 5\n  semiseg bench amvlm-seg --backend cuda --preset paper\n\n\
                      Random images and fixed prompts through an untrained model of the preset's size: the frozen \
                      encoders, the TMG's L_tg step, the teacher, the student's step and the EMA; then one prompt on \
                      one image with the image's embedding computed anew and cached. Prints one markdown table row \
                      for docs/benchmarks.md."
    )]
    AmvlmSeg(BenchAmvlmSegArgs),
}

#[derive(Debug, Args)]
pub struct BenchAmvlmArgs {
    /// Compute backend (auto: CUDA when it is available here, else the CPU).
    #[arg(long, value_enum, default_value_t = BackendKind::Auto)]
    pub backend: BackendKind,
    /// Size preset: paper or tiny.
    #[arg(long, default_value = "paper")]
    pub preset: String,
    /// Batch size (default: the preset's).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Timed steps (after one warm-up step).
    #[arg(long, default_value_t = 3)]
    pub steps: usize,
}

#[derive(Debug, Args)]
pub struct BenchAmvlmSegArgs {
    /// Compute backend (auto: CUDA when it is available here, else the CPU).
    #[arg(long, value_enum, default_value_t = BackendKind::Auto)]
    pub backend: BackendKind,
    /// Size preset: paper (224x224, ViT-B/16, UNet width 64, 16 + 16 images) or tiny.
    #[arg(long, default_value = "paper")]
    pub preset: String,
    /// UNet width (default: the preset's).
    #[arg(long)]
    pub width: Option<usize>,
    /// Labeled and unlabeled images a step, each (default: the preset's).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Time the mean-teacher step (the UNets alone, no encoders or TMG), as
    /// benches/pytorch_unet2d_step.py does.
    #[arg(long)]
    pub no_text: bool,
    /// Timed steps (after one warm-up step).
    #[arg(long, default_value_t = 3)]
    pub steps: usize,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Compute backend (auto: CUDA when it is available here, else the CPU).
    #[arg(long, value_enum, default_value_t = BackendKind::Auto)]
    pub backend: BackendKind,
    /// V-Net width.
    #[arg(long, default_value_t = 16)]
    pub n_filters: usize,
    /// Patch X,Y,Z (default 112,112,80).
    #[arg(long, value_parser = parse_triple, value_name = "X,Y,Z")]
    pub patch: Option<[usize; 3]>,
    /// Timed steps (after one warm-up step).
    #[arg(long, default_value_t = 3)]
    pub steps: usize,
    /// Dataset whose first test case is segmented (default: a zero volume of LA's typical size).
    #[arg(long)]
    pub data: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum TrainCommand {
    /// SimCVD (spec B) and its baselines: mean teacher, supervised-only V-Net, ablations.
    #[command(after_help = TRAIN_HELP)]
    Simcvd(TrainSimcvdArgs),
    /// AMVLM vision-language pre-training (spec A) on image-text pairs in the LViT layout.
    #[command(after_help = TRAIN_AMVLM_HELP)]
    Amvlm(TrainAmvlmArgs),
    /// AMVLM text-guided segmentation (spec A6) and its baselines on a 2D LViT folder.
    #[command(name = "amvlm-seg", after_help = TRAIN_AMVLM_SEG_HELP)]
    AmvlmSeg(TrainAmvlmSegArgs),
}

const TRAIN_AMVLM_SEG_HELP: &str = "Examples:\n  semiseg train amvlm --data data/synth2d --preset tiny --name vlm\n  semiseg train amvlm-seg --data data/synth2d --vlm runs/vlm --labeled 25% --preset tiny\n  semiseg train amvlm-seg --data data/synth2d --vlm runs/vlm --labeled 25% --method mean-teacher\n  semiseg train amvlm-seg --resume runs/amvlm-seg-text-guided-20261205-010000\n\n\
A LViT UNet (student) and its EMA teacher learn from the labeled images (BCE + Dice) and, for the \
semi-supervised methods, from the unlabeled ones: mean-teacher against the teacher's probability; text-guided \
against the teacher's pseudo label fused with the text mask of each image's own description (the frozen \
encoders of --vlm and a Text Mask Generator trained by L_tg with its own Adam), plus the text mask itself. \
The labeled images are a seeded draw from Train_Folder (written into the run's manifest.json). After each \
epoch the student is scored on Val_Folder: best/ keeps the best, training stops after `patience` epochs \
without a better Dice; the test split is only read by eval-model. The paper preset: width 64 (14.75M \
parameters), 16 + 16 images a step, Adam 3e-4 (the AMVLM code uses --lr 1e-3 for MoNuSeg), 100 epochs, \
cosine warm restarts (T0 = 10, eta_min = 1e-4), patience 50; --preset tiny: width 8, 4 + 4, 20 epochs. \
Ablations and the released code's forms: --no-tg-loss, --released-text-mask, --released-student-loss. \
The text branch is ours by default (--text-branch grounded, spec A8: the TMG learns from the labeled images \
where the text points, its logit is calibrated and refined at the image's size, and it steers the pseudo \
labels only as far as its trust, measured on the labeled images, allows); --text-branch a6 is the published \
form. A8 ablations: --no-ground, --no-trust, --text-loss. \
Our option: --prompt-embedding words (the TMG compares its features with the prompt's word embeddings).";

/// Which method `train amvlm-seg` trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SegMethodArg {
    Supervised,
    MeanTeacher,
    TextGuided,
}

#[derive(Debug, Args)]
pub struct TrainAmvlmSegArgs {
    /// Dataset folder in the LViT layout with masks: Train_Folder, Val_Folder (and Test_Folder).
    #[arg(long, required_unless_present_any = ["resume", "print_config"])]
    pub data: Option<PathBuf>,
    /// The AMVLM pre-training run (`semiseg train amvlm`) whose frozen encoders give the image
    /// size and the text masks.
    #[arg(long, value_name = "RUN", required_unless_present_any = ["resume", "print_config"])]
    pub vlm: Option<PathBuf>,
    /// Continue the run in this folder from its last checkpoint.
    #[arg(long, value_name = "RUN", conflicts_with_all = ["config", "vlm", "method", "labeled", "prompt_embedding", "text_branch", "no_ground", "no_trust", "text_loss", "no_tg_loss"])]
    pub resume: Option<PathBuf>,
    /// TOML file with any hyper-parameters (the rest take the defaults; see --print-config).
    #[arg(long, value_name = "FILE", conflicts_with = "preset")]
    pub config: Option<PathBuf>,
    /// Size preset: paper (LViT's UNet, 16 + 16 images a step) or tiny (CPU).
    #[arg(long, default_value = "paper")]
    pub preset: String,
    /// Print the resolved configuration as TOML and exit.
    #[arg(long)]
    pub print_config: bool,
    #[arg(long, value_enum)]
    pub method: Option<SegMethodArg>,
    /// Labeled training images: a count (6), a fraction (0.25) or a percentage (25%).
    #[arg(long, value_parser = parse_labeled, value_name = "FRACTION|N")]
    pub labeled: Option<semiseg::amvlm::LabeledAmount>,
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Adam learning rate of the student and the TMG (3e-4; 1e-3 for MoNuSeg in the AMVLM code).
    #[arg(long)]
    pub lr: Option<f64>,
    /// Seed of the run and of the labeled draw.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Ablation: no L_tg (A6: the TMG's decoder stays the untrained upsampling; A8: only the
    /// grounding trains it).
    #[arg(long)]
    pub no_tg_loss: bool,
    /// The text branch: grounded (ours, spec A8: calibrated and refined text logit, grounding
    /// from the labeled images, trust) or a6 (as published).
    #[arg(long, value_enum, value_name = "grounded|a6")]
    pub text_branch: Option<TextBranchArg>,
    /// A8 ablation: no grounding loss on the labeled images (ground_weight = 0).
    #[arg(long)]
    pub no_ground: bool,
    /// A8 ablation: no trust weighting (ρ = 1 throughout).
    #[arg(long)]
    pub no_trust: bool,
    /// A8: the student's L_text term on (off by default, as in the released code), weighted by ρ.
    #[arg(long)]
    pub text_loss: bool,
    /// The released code's text mask: every text of the batch averaged, then a sigmoid again.
    #[arg(long)]
    pub released_text_mask: bool,
    /// The released code's student loss: one WeightedDiceBCE over labeled and unlabeled images.
    #[arg(long)]
    pub released_student_loss: bool,
    /// The prompt's vector in the Text Mask Generator: global (its global embedding, A6) or
    /// words (the normalised sum of its own words' embeddings, without [SEP], punctuation or the
    /// EOF XXX padding; ours, meant for a VLM pre-trained with w_wp > 0).
    #[arg(long, value_parser = semiseg::amvlm::PromptEmbedding::parse, value_name = "global|words")]
    pub prompt_embedding: Option<semiseg::amvlm::PromptEmbedding>,
    #[command(flatten)]
    pub train: TrainRunArgs,
}

/// The text branch of `train amvlm-seg`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TextBranchArg {
    Grounded,
    A6,
}

fn parse_labeled(s: &str) -> Result<semiseg::amvlm::LabeledAmount, String> {
    semiseg::amvlm::LabeledAmount::parse(s)
}

const TRAIN_AMVLM_HELP: &str = "Examples:\n  semiseg synth 2d --out data/synth2d\n  semiseg train amvlm --data data/synth2d --preset tiny --backend cpu\n  semiseg train amvlm --data ../shared/data/monuseg-lvit --text-init data/models/all-minilm-l6-v2\n  semiseg train amvlm --resume runs/amvlm-20261122-010000\n\n\
The paper preset (default) is ViT-B/16 at 224x224 with a 6x768 BERT, D = 128, Adam 3e-5, batch 32, 100 epochs, \
tau 0.07, L = L_ITC + 0.5 L_CSS + 0.1 L_xg + 0.1 L_ICL; --preset tiny trains on a CPU in minutes. Every \
hyper-parameter can be set in a TOML file (--config; see --print-config). Training pairs come from \
Train_Folder (or Train_all), held-out pairs from Val_Folder (else Test_Folder). The vocabulary is --vocab, \
the --text-init checkpoint's, or trained on the training texts. Each run folder holds config.toml, vocab.txt, \
run.json, sessions.csv, manifest.json, train_log.csv, epochs.csv, evaluations/ (retrieval, localisation, similarity maps), \
checkpoints/ and best/ (lowest epoch-mean loss, as the AMVLM code keeps).";

#[derive(Debug, Args)]
pub struct TrainAmvlmArgs {
    /// Dataset folder in the LViT layout (Train_Folder/img + Train_text.xlsx, ...).
    #[arg(long, required_unless_present_any = ["resume", "print_config"])]
    pub data: Option<PathBuf>,
    /// Continue the run in this folder from its last checkpoint.
    #[arg(long, value_name = "RUN", conflicts_with_all = ["config", "text_init", "vocab", "image_init"])]
    pub resume: Option<PathBuf>,
    /// TOML file with any hyper-parameters (the rest take the defaults).
    #[arg(long, value_name = "FILE", conflicts_with = "preset")]
    pub config: Option<PathBuf>,
    /// Size preset: paper (ViT-B/16 + 6x768 BERT) or tiny (CPU).
    #[arg(long, default_value = "paper")]
    pub preset: String,
    /// Print the resolved configuration as TOML and exit.
    #[arg(long)]
    pub print_config: bool,
    /// Start the text encoder from a BERT checkpoint folder (config.json, vocab.txt, model.safetensors).
    #[arg(long, value_name = "DIR")]
    pub text_init: Option<PathBuf>,
    /// With --text-init: keep only the checkpoint's first N layers (spec A2 keeps 6 of
    /// Bio_ClinicalBERT's 12); without it the run has all of the checkpoint's layers.
    #[arg(long, value_name = "N", requires = "text_init")]
    pub text_layers: Option<usize>,
    /// Start the image encoder from a timm ViT/DeiT checkpoint (a folder with model.safetensors,
    /// or the file; spec A2: DeiT-B/16). Width, patch, MLP width and image size follow it; the
    /// run keeps its configured depth (the first blocks) and heads.
    #[arg(long, value_name = "DIR")]
    pub image_init: Option<PathBuf>,
    /// Use this vocab.txt instead of training one.
    #[arg(long, value_name = "FILE")]
    pub vocab: Option<PathBuf>,
    #[arg(long)]
    pub epochs: Option<usize>,
    #[arg(long)]
    pub batch_size: Option<usize>,
    #[arg(long)]
    pub lr: Option<f64>,
    #[arg(long)]
    pub seed: Option<u64>,
    /// L_CSS with the released code's per-column W2 instead of the pairwise form.
    #[arg(long)]
    pub css_published: bool,
    #[command(flatten)]
    pub train: TrainRunArgs,
}

#[derive(Debug, Args)]
pub struct EvalAmvlmArgs {
    /// The run folder.
    #[arg(long)]
    pub run: PathBuf,
    /// Dataset folder in the LViT layout.
    #[arg(long)]
    pub data: PathBuf,
    /// Split to evaluate: train, val or test.
    #[arg(long, default_value = "test")]
    pub split: String,
    /// Weights: best (lowest epoch-mean loss) or last.
    #[arg(long, value_enum, default_value_t = CheckpointArg::Best)]
    pub checkpoint: CheckpointArg,
    /// Compute backend (auto: CUDA when it is available here, else the CPU).
    #[arg(long, value_enum, default_value_t = BackendKind::Auto)]
    pub backend: BackendKind,
}

#[derive(Debug, Args)]
pub struct VocabArgs {
    /// Dataset folder in the LViT layout.
    #[arg(long)]
    pub data: PathBuf,
    /// Where to write vocab.txt (never overwritten).
    #[arg(long)]
    pub out: PathBuf,
    /// Vocabulary size (special tokens included).
    #[arg(long, default_value_t = 4000)]
    pub size: usize,
    /// Keep case (default: lower-case, like uncased BERT).
    #[arg(long)]
    pub cased: bool,
    /// Do not append LViT's " EOF XXX" padding to short descriptions.
    #[arg(long)]
    pub no_pad: bool,
}

#[derive(Debug, Subcommand)]
pub enum SynthCommand {
    /// A small 3D dataset in the MSD layout (ellipsoid organ + distractor in noise, LPS affine).
    #[command(
        after_help = "Example:\n  semiseg synth 3d --out data/synth3d --cases 12 --test 4 --size 48"
    )]
    #[command(name = "3d")]
    ThreeD(Synth3dArgs),
    /// Chest radiographs with lesion masks and descriptions, in the LViT layout (for AMVLM).
    #[command(after_help = SYNTH2D_HELP)]
    #[command(name = "2d")]
    TwoD(Synth2dArgs),
}

const SYNTH2D_HELP: &str = "Examples:\n  semiseg synth 2d --out data/synth2d\n  semiseg synth 2d --out data/tiny2d --train 16 --val 4 --test 4 --size 96 --seed 7\n\n\
Writes Train_Folder/, Val_Folder/ and Test_Folder/, each with img/ (grey PNG radiographs), labelcol/ \
(PNG masks 0/255, same file names), <Split>_text.xlsx (columns Image = mask file name, Description) \
and lesions.json (each lesion's side, zone, box and pixel count), plus README.txt. Each image has \
--min-lesions to --max-lesions opacities in distinct lung zones (upper/middle/lower x left/right), \
and its description names them, e.g. \"Bilateral pulmonary infection, two infected areas, upper left \
lung and lower right lung.\" Sides are the patient's: the left lung is on the image's right. The \
output folder must be new or empty.";

const TRAIN_HELP: &str = "Examples:\n  semiseg train simcvd --data ../shared/data/la2018 --labeled 16\n  semiseg train simcvd --data ../shared/data/la2018 --labeled 8 --method supervised\n  semiseg train simcvd --data ../shared/data/la2018 --labeled 8 --no-pd\n  semiseg train simcvd --resume runs/simcvd-16L-20261122-010000\n  semiseg train simcvd --resume runs/simcvd-16L-20261122-010000 --time-limit 23h50m   # a 24-hour batch job\n\n\
Defaults are the paper's (spec B4/B5): 2 labeled + 2 unlabeled patches of 112x112x80 per step, SGD lr 0.01 \
(x0.1 every 3000 steps), momentum 0.9, weight decay 5e-4, 6000 steps, EMA 0.999, alpha/lambda/beta/gamma/tau = \
0.1/0.5/0.1/0.1/0.5. Every hyper-parameter can be set in a TOML file (--config; write the defaults with \
--print-config). Each run gets a new folder under --runs with config.toml, sessions.csv, manifest.json (case ids \
and SHA-256 of every file), train_log.csv, evaluations/ (the test cases, monitoring only) and checkpoints/; with \
--val-list also evaluations/validation/ and best/ (the weights with the best validation Dice). Weights are never chosen \
on the test cases: eval-model, export and predict use the last checkpoint unless told otherwise. A killed run \
continues exactly with --resume; Ctrl-C or SIGTERM (a scheduler's end of job) first finishes the step and writes a \
checkpoint.";

#[derive(Debug, Args)]
pub struct TrainSimcvdArgs {
    /// Dataset folder (MSD layout with train.list/test.list, e.g. ../shared/data/la2018).
    #[arg(long, required_unless_present_any = ["resume", "print_config"])]
    pub data: Option<PathBuf>,
    /// Continue the run in this folder from its last checkpoint.
    #[arg(long, value_name = "RUN", conflicts_with_all = ["config", "method", "val_list"])]
    pub resume: Option<PathBuf>,
    /// Validation cases: a list file (one case id per line) of labeled training cases outside
    /// the labeled subset. They leave training, are evaluated with the test cases, and `best/`
    /// keeps the weights with the best Dice on them (without it there is no `best/`).
    #[arg(long, value_name = "FILE")]
    pub val_list: Option<PathBuf>,
    /// TOML file with any hyper-parameters (the rest take the defaults).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print the resolved configuration as TOML and exit.
    #[arg(long)]
    pub print_config: bool,
    /// Which method to train.
    #[arg(long, value_enum)]
    pub method: Option<MethodArg>,
    /// Number of labeled cases (the first N of train.list).
    #[arg(long)]
    pub labeled: Option<usize>,
    /// Iterations.
    #[arg(long)]
    pub steps: Option<usize>,
    /// Training patch X,Y,Z (multiples of 16).
    #[arg(long, value_parser = parse_triple, value_name = "X,Y,Z")]
    pub patch: Option<[usize; 3]>,
    /// Sliding-window stride X,Y,Z for evaluation.
    #[arg(long, value_parser = parse_triple, value_name = "X,Y,Z")]
    pub stride: Option<[usize; 3]>,
    /// V-Net width (16 in the papers).
    #[arg(long)]
    pub n_filters: Option<usize>,
    /// Seed of the run.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Evaluate on the test cases every N steps (0: only at the end).
    #[arg(long)]
    pub eval_every: Option<usize>,
    /// Write a checkpoint every N steps.
    #[arg(long)]
    pub checkpoint_every: Option<usize>,
    /// Ablations: switch off the SDM head / the boundary-aware contrast / pair-wise distillation / consistency.
    #[arg(long)]
    pub no_sdm: bool,
    #[arg(long)]
    pub no_contrast: bool,
    #[arg(long)]
    pub no_pd: bool,
    #[arg(long)]
    pub no_con: bool,
    #[command(flatten)]
    pub train: TrainRunArgs,
}

/// The options every training command shares (`train simcvd`, `train amvlm`, `train amvlm-seg`).
#[derive(Debug, Args)]
pub struct TrainRunArgs {
    /// Compute backend (auto: CUDA when it is available here, else the CPU).
    #[arg(long, value_enum, default_value_t = BackendKind::Auto)]
    pub backend: BackendKind,
    /// Folder that holds the runs.
    #[arg(long, default_value = "runs")]
    pub runs: PathBuf,
    /// Name of the run folder (default: the method, what it trains on and a timestamp).
    #[arg(long)]
    pub name: Option<String>,
    /// Stop after N units of this invocation (steps for SimCVD, epochs for AMVLM); a
    /// checkpoint is written; continue with --resume.
    #[arg(long, value_name = "N")]
    pub stop_after: Option<usize>,
    /// Stop, with a checkpoint, before a step (SimCVD) or epoch (AMVLM) that would end past
    /// this wall time from the command's start: 600 (seconds), 90s, 45m, 23h30m. For
    /// batch-scheduler jobs and lent machines; continue with --resume.
    #[arg(long, value_name = "DURATION", value_parser = parse_time_limit)]
    pub time_limit: Option<Duration>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MethodArg {
    Simcvd,
    MeanTeacher,
    Supervised,
}

/// Which weights of a run to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CheckpointArg {
    /// The final (latest) weights, what UA-MT and SimCVD report.
    Last,
    /// The weights with the best validation Dice during training (runs trained with
    /// --val-list; weights are never chosen on the test cases).
    Best,
}

#[derive(Debug, Args)]
pub struct EvalModelArgs {
    /// The run folder, or a model bundle file written by `semiseg export` (`--model` is the same
    /// option).
    #[arg(long, visible_alias = "model")]
    pub run: PathBuf,
    /// Dataset folder with the cases to evaluate.
    #[arg(long)]
    pub data: PathBuf,
    /// Cases to evaluate (a list file); default: the data folder's test.list.
    #[arg(long, value_name = "LIST")]
    pub cases: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = CheckpointArg::Last)]
    pub checkpoint: CheckpointArg,
    /// Folder for the predicted masks (must not exist); default RUN/predictions-<checkpoint>
    /// (with `-lcc` after it under --largest-component; RUN/validation-<checkpoint> with --split
    /// val). Required for a bundle.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Sliding-window stride (default: the run's, LA 18,18,4 as in B6). A larger step is faster
    /// on a CPU, e.g. half the patch; the table then says the protocol differs.
    #[arg(long, value_parser = parse_triple, value_name = "X,Y,Z")]
    pub stride: Option<[usize; 3]>,
    /// Keep only the largest 26-connected foreground component of each prediction before
    /// scoring and writing it (not part of the paper's protocol, which scores the raw argmax).
    #[arg(long)]
    pub largest_component: bool,
    /// Which split of a 2D run's data to score: test (Test_Folder, what results report) or val
    /// (Val_Folder, for choosing settings: written as metrics-val.csv and
    /// localisation-val.json in RUN/validation-<checkpoint>, never mixed with test scores). 3D
    /// runs take --cases.
    #[arg(long, value_enum)]
    pub split: Option<EvalSplit>,
    /// Compute backend (auto: CUDA when it is available here, else the CPU).
    #[arg(long, value_enum, default_value_t = BackendKind::Auto)]
    pub backend: BackendKind,
}

/// The split `eval-model` scores a 2D run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EvalSplit {
    Test,
    Val,
}

#[derive(Debug, Args)]
pub struct PrepareLaArgs {
    /// The challenge's training folder ("2018LA_Seg_Training Set"): one sub-folder per case
    /// holding lgemri.nrrd and laendo.nrrd.
    pub raw: PathBuf,
    /// New (or empty) folder for the prepared dataset.
    #[arg(long)]
    pub out: PathBuf,
    /// Seed of the random crop margins (each case draws from its own stream of it).
    #[arg(long, default_value_t = 1337)]
    pub seed: u64,
}

#[derive(Debug, Args)]
pub struct PredictArgs {
    /// The model: a run folder, or a model bundle file written by `semiseg export`.
    #[arg(long)]
    pub model: PathBuf,
    /// The scan to segment (3D model), or the image (PNG, JPEG, TIFF; text-guided 2D model).
    pub scan: PathBuf,
    /// Output mask (.nii or .nii.gz for a scan, .png for an image; must not exist).
    #[arg(short, long)]
    pub output: PathBuf,
    /// 2D text-guided models: what to look for, e.g. "Bilateral pulmonary infection, lower left
    /// lung". Gives the text mask (--text-mask) and, with --fuse, steers the mask.
    #[arg(long, value_name = "TEXT")]
    pub prompt: Option<String>,
    /// 2D: write the prompt's text mask as an 8-bit PNG at the image's size (needs --prompt).
    #[arg(long, value_name = "MAP.png", requires = "prompt")]
    pub text_mask: Option<PathBuf>,
    /// 2D: the mask is the student's logit fused with the prompt's (σ(z_student + z_text) > 0.5,
    /// the fusion of the training's pseudo labels) instead of the student's alone.
    #[arg(long, requires = "prompt")]
    pub fuse: bool,
    /// Which weights of a run folder (a bundle has one set).
    #[arg(long, value_enum, default_value_t = CheckpointArg::Last)]
    pub checkpoint: CheckpointArg,
    /// Sliding-window stride (default: the run's or the bundle's, LA 18,18,4).
    #[arg(long, value_parser = parse_triple, value_name = "X,Y,Z")]
    pub stride: Option<[usize; 3]>,
    /// Keep only the largest 26-connected foreground component (removes stray islands; not part
    /// of the paper's protocol, see docs/results.md).
    #[arg(long)]
    pub largest_component: bool,
    /// Z-score the scan over all its voxels first (spec B1), for a raw scan; without it a scan
    /// whose intensities are far from z-scored is refused.
    #[arg(long)]
    pub zscore: bool,
    /// Compute backend (auto: CUDA when it is available here, else the CPU).
    #[arg(long, value_enum, default_value_t = BackendKind::Auto)]
    pub backend: BackendKind,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The run folder.
    #[arg(long)]
    pub run: PathBuf,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The run folders; the first is the reference for config differences.
    #[arg(required = true)]
    pub runs: Vec<PathBuf>,
    /// The step (epoch for AMVLM runs) of the evaluation table; every run must have evaluated it.
    #[arg(long)]
    pub step: Option<u64>,
    /// Also write every evaluation of every run to this CSV file (must not exist).
    #[arg(long)]
    pub csv: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The run folder to export.
    #[arg(long)]
    pub run: PathBuf,
    /// The bundle file to write (must not exist), e.g. www/assets/models/la-light.semiseg.
    #[arg(short, long)]
    pub output: PathBuf,
    #[arg(long, value_enum, default_value_t = CheckpointArg::Last)]
    pub checkpoint: CheckpointArg,
    /// Weight precision: f16 halves the download (check the Dice difference, README).
    #[arg(long, value_enum, default_value_t = PrecisionArg::F16)]
    pub precision: PrecisionArg,
    /// The metrics.csv of an `eval-model` of this run and checkpoint: its mean row goes on the card.
    #[arg(long, value_name = "CSV")]
    pub metrics: Option<PathBuf>,
    /// Name shown to users (default: derived from the run).
    #[arg(long)]
    pub name: Option<String>,
    /// Anything users should know about this model.
    #[arg(long, default_value = "")]
    pub notes: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PrecisionArg {
    F16,
    F32,
}

#[derive(Debug, Args)]
pub struct Synth3dArgs {
    /// New folder for the dataset.
    #[arg(long)]
    pub out: PathBuf,
    /// Number of cases.
    #[arg(long, default_value_t = 12)]
    pub cases: usize,
    /// How many of them form test.list.
    #[arg(long, default_value_t = 4)]
    pub test: usize,
    /// Side of the cubic volumes in voxels.
    #[arg(long, default_value_t = 48)]
    pub size: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

#[derive(Debug, Args)]
pub struct Synth2dArgs {
    /// New (or empty) folder for the dataset.
    #[arg(long)]
    pub out: PathBuf,
    /// Number of training images.
    #[arg(long, default_value_t = 200)]
    pub train: usize,
    /// Number of validation images (0: no Val_Folder).
    #[arg(long, default_value_t = 50)]
    pub val: usize,
    /// Number of test images (0: no Test_Folder).
    #[arg(long, default_value_t = 50)]
    pub test: usize,
    /// Side of the square images in pixels.
    #[arg(long, default_value_t = 224)]
    pub size: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Fewest lesions per image.
    #[arg(long, default_value_t = 1)]
    pub min_lesions: usize,
    /// Most lesions per image (at most 6, one per lung zone).
    #[arg(long, default_value_t = 3)]
    pub max_lesions: usize,
}

const EVAL_HELP: &str = "Example:\n  semiseg eval --pred runs/la16/predictions --gt ../shared/data/la2018/labelsTr --cases ../shared/data/la2018/test.list --csv la16.csv\n\n\
Files are matched by case id (the file name without .nii/.nii.gz). Every prediction needs a ground \
truth; with --cases, every listed case needs both. Both masks of a case must lie on the same voxel \
grid (orientation differences are undone first). Metrics follow medpy as the semi-supervised \
literature uses it: surfaces by erosion with the 3D cross, 95HD over both directions pooled, ASD from \
prediction to ground truth, in voxels unless --spacing mm. If either mask of a case is empty all its \
metrics are 0 (as in SSL4MIS) and the case is flagged. The CSV also has ASSD and the MONAI-style HD95 \
(max of the two directed 95th percentiles).";

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The scan (.nii, .nii.gz, .hdr).
    pub scan: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Units of the distance metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SpacingUnit {
    /// Voxels, as in SimCVD's and UA-MT's tables.
    Voxel,
    /// Millimetres, using each scan's voxel size.
    Mm,
}

impl SpacingUnit {
    /// The unit's name in table headers and CSV columns.
    pub fn name(self) -> &'static str {
        match self {
            SpacingUnit::Voxel => "voxel",
            SpacingUnit::Mm => "mm",
        }
    }
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Folder of predicted masks (.nii / .nii.gz).
    #[arg(long)]
    pub pred: PathBuf,
    /// Folder of ground-truth masks.
    #[arg(long)]
    pub gt: PathBuf,
    /// Distance units.
    #[arg(long, value_enum, default_value_t = SpacingUnit::Voxel)]
    pub spacing: SpacingUnit,
    /// Also write the table as CSV (one row per case, then a "mean" row).
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Replace the CSV file if it exists (otherwise an existing file is an error).
    #[arg(long)]
    pub overwrite: bool,
    /// Only these cases, which must all be present (a file with one case id per line, e.g. test.list).
    #[arg(long, value_name = "LIST")]
    pub cases: Option<PathBuf>,
    /// Score this label value (for multi-label masks); by default foreground is any value > 0.5.
    #[arg(long)]
    pub label: Option<u32>,
    /// Keep only the largest 26-connected component of each prediction before scoring (as
    /// `predict --largest-component`; the paper's protocol scores the masks as they are).
    #[arg(long)]
    pub largest_component: bool,
}

#[derive(Debug, Args)]
pub struct DatasetArgs {
    /// The dataset folder (dataset.json, imagesTr/, labelsTr/, train.list, test.list; or the LViT
    /// layout Train_Folder/, Val_Folder/, Test_Folder/).
    pub dir: PathBuf,
    /// Number of labeled training cases.
    #[arg(long, default_value_t = 16)]
    pub labeled: usize,
    /// Draw the labeled cases at random with this seed instead of taking the first of train.list.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Print JSON (the split's case ids) instead of a summary.
    #[arg(long)]
    pub json: bool,
}

/// `X,Y,Z` as three positive integers.
fn parse_triple(s: &str) -> Result<[usize; 3], String> {
    let v: Vec<usize> = s
        .split(',')
        .map(|p| p.trim().parse::<usize>().map_err(|e| format!("{p:?}: {e}")))
        .collect::<Result<_, _>>()?;
    match v.as_slice() {
        [x, y, z] if *x > 0 && *y > 0 && *z > 0 => Ok([*x, *y, *z]),
        _ => Err(format!("expected three positive integers X,Y,Z, got {s:?}")),
    }
}
