"""One training step of each balancing method as its authors released it, on a tiny two-modality
network with batch norm and residual blocks, computed by PyTorch autograd in float64.

The released training code was read, never copied: every function below paraphrases one released
function and names the file, lines and commit it follows. The results are written as JSON for a
Rust test of balmix (tests/reference/methods/*.json); see tools/method-reference/README.md.

The network (the contract with the Rust side): modalities audio (1 x 16 x 16, one frame) and
visual (two 1 x 16 x 16 frames), n = 6 samples, 3 classes, labels [0, 1, 2, 2, 1, 0]. Each
modality has its own torchvision ResNet-18 of base width 1 (tools/resnet-reference's
NarrowResNet18; stages 1, 2, 4, 8 channels; feature width 8). A visual batch is viewed as
(n * T, 1, 16, 16), so batch norm pools over all n * T frames; the feature is the mean of the last
map over frames and positions. Heads: `head` (3 x 16, concat fusion, H1), `unimodal_head.<m>`
(3 x 8 each, MMPareto's separate heads, H2), `shared_head` (3 x 8, MLA's shared head, H3).

Every reference step uses plain SGD (momentum 0, weight decay 0, lr 1.0 unless a case says
otherwise), so theta - theta' is exactly the gradient the released code hands its optimiser.

Run from the repository root:  /tmp/torchref/bin/python tools/method-reference/make_reference.py
"""
import copy
import importlib.util
import json
import math
import pathlib

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = pathlib.Path(__file__).resolve().parents[2]
# tools/resnet-reference/make_reference.py (our torchvision ResNet-18), loaded under its own name
# so that it does not clash with this file's.
_spec = importlib.util.spec_from_file_location(
    "resnet_reference", ROOT / "tools" / "resnet-reference" / "make_reference.py")
_resnet = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_resnet)
NarrowResNet18, trunk_forward = _resnet.NarrowResNet18, _resnet.trunk_forward

OUT = ROOT / "tests" / "reference" / "methods"
SOURCE = "tools/method-reference/make_reference.py"

N, CLASSES, HW = 6, 3, 16
LABELS = [0, 1, 2, 2, 1, 0]
MODS = ["audio", "visual"]
FRAMES = {"audio": 1, "visual": 2}
WIDTH = 1
# The visual input: N(0, 1) * 0.5 plus VISUAL_OFFSET * (label - 1) on columns 0-7 of both frames.
VISUAL_SCALE, VISUAL_OFFSET = 0.5, 0.5
# G-Blending's "validation" samples (3 more, drawn after the training inputs).
VAL_LABELS = [0, 1, 2]
# G-Blending's unimodal copies train an encoder on all-zero batches in training mode; at 16 x 16
# that is degenerate (see DEGENERATE), so its reference uses 48 x 48 inputs (layer4 maps 2 x 2),
# with the same parameters as network.json (drawn before the inputs, independent of the size).
GB_HW = 48

# Released commits (the snapshot HEADs read).
AGM_REPO = "Lingy12/AGM_ICCV2023"
AGM_C = "a24f2ce"
MMP_REPO = "GeWu-Lab/MMPareto_ICML2024"
MMP_C = "a339db3"
OGM_REPO = "GeWu-Lab/OGM-GE_CVPR2022"
OGM_C = "343dc1d"
MLA_REPO = "Cecile-hi/Multimodal-Learning-with-Alternating-Unimodal-Adaptation"
MLA_C = "ab6c184"
PMR_REPO = "fanyunfeng-bit/Modal-Imbalance-PMR"
PMR_C = "3615e48"
BB_REPO = "GeWu-Lab/BalanceBenchmark"
BB_C = "4c1482f"

MARGIN = 1e-3  # no decision may sit closer than this to its threshold


# ----------------------------------------------------------------------------------------------
# The network


class Net(nn.Module):
    """Both encoders and every head any method uses; each method takes the ones its model has."""

    def __init__(self):
        super().__init__()
        enc = {m: NarrowResNet18(1, WIDTH) for m in MODS}  # torchvision init (Kaiming conv, BN 1/0)
        for m in MODS:  # then every batch norm drawn away from the defaults
            for mod in enc[m].modules():
                if isinstance(mod, nn.BatchNorm2d):
                    with torch.no_grad():
                        mod.weight.uniform_(0.5, 1.5)
                        mod.bias.normal_(0.0, 0.1)
                        mod.running_mean.normal_(0.0, 0.2)
                        mod.running_var.uniform_(0.5, 2.0)
        self.encoder = nn.ModuleDict(enc)
        d = 8 * WIDTH
        self.head = nn.Linear(2 * d, CLASSES)
        self.unimodal_head = nn.ModuleDict({m: nn.Linear(d, CLASSES) for m in MODS})
        self.shared_head = nn.Linear(d, CLASSES)


def features(net, m, x):
    """Encoder m on x (n, T, 16, 16): frames folded into the batch, mean over frames and positions
    (the released models' adaptive_avg_pool2d / adaptive_avg_pool3d, e.g. AGM model/CREMAD_net.py
    L107-L117 and model/utils/resnet.py L150-L153)."""
    n, t = x.shape[0], x.shape[1]
    y = trunk_forward(net.encoder[m], x.reshape(n * t, 1, x.shape[2], x.shape[3]))
    return y.reshape(n, t, *y.shape[1:]).mean(dim=(1, 3, 4))


def concat_logits(net, za, zv):
    """ConcatFusion: fc_out(cat(z_a, z_v)) (AGM model/CREMAD_net.py L256-L265)."""
    return net.head(torch.cat([za, zv], dim=1))


def split_logits(net, za, zv):
    """H1 split logits u_m = z_m W_m^T + b/2 (OGM-GE main.py L88-L93; BB avclassify_model.py
    L287-L294 with b / M)."""
    w, b = net.head.weight, net.head.bias
    d = w.shape[1] // 2
    return za @ w[:, :d].t() + b / 2, zv @ w[:, d:].t() + b / 2


def set_encoders(net, train):
    for m in MODS:
        net.encoder[m].train(train)


def f32_round(t):
    return torch.from_numpy(t.detach().cpu().numpy().astype(np.float32).astype(np.float64))


def build(hw=HW):
    """The network, inputs and G-Blending's validation samples, rounded to float32 and then held
    in float64 (hw x hw images)."""
    torch.manual_seed(0)
    net = Net()
    labels = torch.tensor(LABELS)
    xa = torch.randn(N, FRAMES["audio"], hw, hw)
    xv = torch.randn(N, FRAMES["visual"], hw, hw) * VISUAL_SCALE
    xv[:, :, :, :8] += VISUAL_OFFSET * (labels.double() - 1.0).float().view(N, 1, 1, 1)
    val_labels = torch.tensor(VAL_LABELS)
    va = torch.randn(len(VAL_LABELS), FRAMES["audio"], hw, hw)
    vv = torch.randn(len(VAL_LABELS), FRAMES["visual"], hw, hw) * VISUAL_SCALE
    vv[:, :, :, :8] += VISUAL_OFFSET * (val_labels.double() - 1.0).float().view(-1, 1, 1, 1)
    net = net.double()
    with torch.no_grad():
        for _, t in list(net.named_parameters()) + list(net.named_buffers()):
            if t.is_floating_point():
                t.copy_(f32_round(t))
    inputs = {"audio": f32_round(xa), "visual": f32_round(xv)}
    val = {"audio": f32_round(va), "visual": f32_round(vv)}
    return net, inputs, labels, val, val_labels


def param_dict(net):
    return {n: p for n, p in net.named_parameters()}


def bn_buffers(net):
    return {n: b for n, b in net.named_buffers() if not n.endswith("num_batches_tracked")}


def tracked(net, m):
    return int(net.encoder[m].bn1.num_batches_tracked.item())


def model_params(net, heads):
    """The method's model: both encoders and the listed heads, in state_dict order."""
    keep = ("encoder.",) + tuple(h + "." for h in heads)
    return [(n, p) for n, p in net.named_parameters() if n.startswith(keep)]


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def like(net, t):
    """t in the network's dtype (the float32 shadow run uses a float32 copy)."""
    return t.to(net.head.weight.dtype)


def cast(net, x):
    return {m: like(net, v) for m, v in x.items()}


def shadow_f32(base, heads, step):
    """The same step on a float32 copy of the network (torch float32)."""
    net = copy.deepcopy(base).float()
    before = {n: p.detach().clone() for n, p in model_params(net, heads)}
    res = step(net)
    after = param_dict(net)
    return float(res["loss"]), {n: (before[n] - after[n].detach()).double().reshape(-1) for n in before}


def compare_f32(loss32, d32, loss64, d64):
    """How far float32 lands from the float64 reference, relative to the largest |delta|."""
    scale = max((max((abs(v) for v in vals), default=0.0) for vals in d64.values()), default=0.0) or 1.0
    worst, where, tensor_worst, tensor_where = 0.0, None, 0.0, None
    for n, vals in d64.items():
        if not vals:
            continue
        diff = float((d32[n] - torch.tensor(vals, dtype=torch.float64)).abs().max())
        if diff > worst:
            worst, where = diff, n
        # against the tensor's own largest entry (plus 1e-6 absolute)
        rel = diff / (max(abs(v) for v in vals) + 1e-6 / 2e-3)
        if rel > tensor_worst:
            tensor_worst, tensor_where = rel, n
    return {"loss_abs_diff": abs(loss32 - loss64),
            "delta_max_abs_diff_over_max_abs_delta": worst / scale, "worst_param": where,
            "per_tensor_max_abs_diff_over_tensor_max_plus_5e-4": tensor_worst,
            "per_tensor_worst_param": tensor_where}


DEGENERATE = ("train-mode batch of identical samples (an all-zero input): in layer3 and layer4 "
              "the maps are 1 x 1, every batch-norm channel has batch variance 0, and backward "
              "multiplies by 1/sqrt(eps) = 316 at each; the exact gradient of every parameter "
              "upstream of them is 0, the computed one is rounding noise amplified ~1e15 "
              "(O(1) in float64, ~1e9 in float32), so these deltas are left out")


def run_case(base, name, settings, heads, step, state_in=None, extra=None, shadow=True,
             unreliable=()):
    """Run one released step on a copy of the network; collect delta, running statistics and the
    number of running updates each encoder received (from num_batches_tracked). A float32 shadow
    run of the same step (first, so that the float64 run's side results are the ones kept)
    measures how well float32 can reproduce it."""
    if shadow:
        loss32, d32 = shadow_f32(base, heads, step)
    net = copy.deepcopy(base)
    before = {n: p.detach().clone() for n, p in model_params(net, heads)}
    counts0 = {m: tracked(net, m) for m in MODS}
    res = step(net)
    after = param_dict(net)
    case = {
        "name": name,
        "settings": settings,
        "loss": float(res["loss"]),
        "delta": {n: flat(before[n] - after[n]) for n in before},
        "running_after": {n: flat(b) for n, b in bn_buffers(net).items()},
        "running_updates_per_encoder": {m: tracked(net, m) - counts0[m] for m in MODS},
        "bn_modes": res["bn_modes"],
        "quantities": res["quantities"],
    }
    if state_in is not None:
        case["state_in"] = state_in
    if extra:
        case.update(extra)
    if res.get("margins"):
        case["decision_margins"] = res["margins"]
    if unreliable:
        dropped = [n for n in case["delta"] if n.startswith(tuple(unreliable))]
        for n in dropped:
            del case["delta"][n]
        case["delta_unreliable"] = {"params": dropped, "reason": DEGENERATE}
    if shadow:
        case["f32_check"] = compare_f32(loss32, d32, case["loss"], case["delta"])
    return case


# ----------------------------------------------------------------------------------------------
# AGM (Lingy12/AGM_ICCV2023 a24f2ce)


class ScaleGrad(nn.Module):
    """Identity whose full backward hook multiplies the incoming gradient by `scale`.
    Follows model/CREMAD_net.py L19-L23 (Modality_out) and L42-L55 (hooka/hookv, update_scale)."""

    def __init__(self):
        super().__init__()
        self.scale = 1.0
        self.register_full_backward_hook(self._hook)

    def forward(self, x):
        return x

    def _hook(self, module, grad_in, grad_out):
        return (grad_in[0].clone() * self.scale,)


def agm_forward(net, xa, xv, masked_train):
    """GradMod.forward, model/CREMAD_net.py L57-L72 (AVClassifier.forward L100-L122 per pass):
    the full pass in the current (training) mode, then net.eval() for the visual-zeroed,
    audio-zeroed and all-zero passes (autograd on), then back to train(). `masked_train` is balmix's
    former behaviour (not released): the two masked passes in training mode, no all-zero pass."""
    za, zv = features(net, "audio", xa), features(net, "visual", xv)
    total = concat_logits(net, za, zv)
    if not masked_train:
        set_encoders(net, False)
    pad_visual = concat_logits(net, features(net, "audio", xa),
                               features(net, "visual", torch.zeros_like(xv)))
    pad_audio = concat_logits(net, features(net, "audio", torch.zeros_like(xa)),
                              features(net, "visual", xv))
    zero = None
    if not masked_train:
        zero = concat_logits(net, features(net, "audio", torch.zeros_like(xa)),
                             features(net, "visual", torch.zeros_like(xv)))  # computed, unused
    set_encoders(net, True)
    return total, pad_visual, pad_audio, zero


def agm_score(out, y):
    """Mean over the batch of -log softmax(out)[k, y_k], with the released 1e-8 clamp
    (run/CREMAD_main.py L130-L143)."""
    p = F.softmax(out.detach(), dim=1)
    s = 0.0
    for k in range(out.shape[0]):
        pk = p[k, y[k]]
        if torch.isinf(torch.log(pk)) or pk < 1e-8:
            s += -math.log(1e-8)
        else:
            s += -torch.log(pk).item()
    return s / out.shape[0], float(p[torch.arange(out.shape[0]), y].min())


def agm_step(net, x, y, alpha, mean, count, clip_trigger, clip_norm, lr, masked_train=False):
    """One iteration of run/CREMAD_main.py train(), AGM branch: L44-L48 (iteration index),
    L63-L69 (forward, out_a/out_v, loss = CE(out)), L108 (zero_grad), L126-L157 (scores, ratios,
    coefficients, running means), L159-L166 (update_scale, backward), L233-L244 (clip rule on
    fusion_module.fc_out.weight.grad, step)."""
    x = cast(net, x)
    params = model_params(net, ["head"])
    opt = torch.optim.SGD([p for _, p in params], lr=lr, momentum=0.0, weight_decay=0.0)
    hook_a, hook_v = ScaleGrad(), ScaleGrad()
    set_encoders(net, True)
    total, pad_v, pad_a, _zero = agm_forward(net, x["audio"], x["visual"], masked_train)
    # Modality_Audio / Modality_Visual (CREMAD_net.py L7-L17), each through its hooked identity.
    m_a = hook_a(0.5 * (total - pad_a + pad_v))
    m_v = hook_v(0.5 * (total - pad_v + pad_a))
    out = m_a + m_v
    out_a = 0.5 * (total - pad_a + pad_v)  # CREMAD_main.py L65-L66 (for the scores)
    out_v = 0.5 * (total - pad_v + pad_a)
    loss = F.cross_entropy(out, y)
    opt.zero_grad(set_to_none=True)
    s_a, pmin_a = agm_score(out_a, y)
    s_v, pmin_v = agm_score(out_v, y)
    ratio = [math.exp(s_v - s_a), math.exp(s_a - s_v)]
    optimal = [math.exp(mean[1] - mean[0]), math.exp(mean[0] - mean[1])]
    kappa = [math.exp(alpha * min(optimal[i] - ratio[i], 10.0)) for i in range(2)]
    it = count + 1
    mean_after = [mean[0] * (it - 1) / it + s_a / it, mean[1] * (it - 1) / it + s_v / it]
    hook_a.scale, hook_v.scale = kappa
    loss.backward()
    gw = net.head.weight.grad
    gmax, gmin = float(gw.max()), float(gw.min())
    head_max_abs = max(gmax, -gmin)
    grads = [p.grad for _, p in params if p.grad is not None]
    norm_before = float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])))
    triggered = gmax > clip_trigger or gmin < -clip_trigger
    factor = 1.0
    if triggered:
        torch.nn.utils.clip_grad_norm_([p for _, p in params], max_norm=clip_norm)
        factor = min(clip_norm / (norm_before + 1e-6), 1.0)
    grad_after = {n: p.grad.detach().clone() for n, p in params}
    opt.step()
    modes = (["total pass: train mode, with grad (running update)",
              "visual-zeroed pass: train mode, with grad (running update)",
              "audio-zeroed pass: train mode, with grad (running update)"] if masked_train else
             ["total pass: train mode, with grad (one running update per encoder)",
              "visual-zeroed pass: eval mode (running statistics as updated by the total pass), with grad",
              "audio-zeroed pass: eval mode, with grad",
              "all-zero pass: eval mode, with grad, computed and unused (no gradient, no update)"])
    margins = {
        "clip_trigger_distance": abs(head_max_abs - clip_trigger),
        "score_clamp_distance": min(pmin_a, pmin_v) - 1e-8,
        "kappa_clamp_distance": min(10.0 - (optimal[i] - ratio[i]) for i in range(2)),
    }
    q = {
        "scores": [s_a, s_v],
        "kappa": kappa,
        "mean_after": mean_after,
        "count_after": it,
        "ratio": ratio,
        "optimal_ratio": optimal,
        "head_weight_grad_max_abs": head_max_abs,
        "clip_triggered": bool(triggered),
        "grad_norm_before_clip": norm_before,
        "clip_factor": factor,
        "output_logits": [flat(r) for r in out.detach()],
    }
    return {"loss": loss.item(), "bn_modes": modes, "quantities": q, "margins": margins,
            "_grad": grad_after}


def agm_check_hooks(base, x, y, res_net_grad, alpha, mean, count, masked_train, clip_trigger,
                    clip_norm):
    """Independent check of the hook mechanism: the same step with the stop-gradient form
    out = k_a m_a + k_v m_v + stopgrad((1 - k_a) m_a + (1 - k_v) m_v)."""
    net = copy.deepcopy(base)
    params = model_params(net, ["head"])
    set_encoders(net, True)
    total, pad_v, pad_a, _ = agm_forward(net, x["audio"], x["visual"], masked_train)
    m_a = 0.5 * (total - pad_a + pad_v)
    m_v = 0.5 * (total - pad_v + pad_a)
    s_a, _ = agm_score(m_a, y)
    s_v, _ = agm_score(m_v, y)
    ratio = [math.exp(s_v - s_a), math.exp(s_a - s_v)]
    optimal = [math.exp(mean[1] - mean[0]), math.exp(mean[0] - mean[1])]
    ka, kv = [math.exp(alpha * min(optimal[i] - ratio[i], 10.0)) for i in range(2)]
    out = ka * m_a + kv * m_v + ((1 - ka) * m_a + (1 - kv) * m_v).detach()
    F.cross_entropy(out, y).backward()
    gw = net.head.weight.grad
    if float(gw.max()) > clip_trigger or float(gw.min()) < -clip_trigger:
        torch.nn.utils.clip_grad_norm_([p for _, p in params], max_norm=clip_norm)
    # (train-mode masked passes: the encoder gradients are rounding noise, see DEGENERATE)
    worst = max(float((p.grad - res_net_grad[n]).abs().max()) for n, p in params
                if not (masked_train and n.startswith("encoder.")))
    assert worst < 1e-12, f"AGM hook vs stop-gradient mismatch {worst}"
    return worst


def make_agm(base, x, y):
    alpha, lr, clip_norm = 1.5, 1.0, 1.0
    cases = []
    specs = [
        # name, mean, count, clip_trigger, masked_train, released
        ("state5_clip_not_triggered", [0.9, 1.3], 5, 1.0, False, True),
        ("state5_clip_triggered", [0.9, 1.3], 5, 0.01, False, True),
        ("state0_first_step", [0.0, 0.0], 0, 1.0, False, True),
        # Clip off here: the train-mode encoder gradients are rounding noise (DEGENERATE), and a
        # triggered clip would carry that noise into every gradient through the global norm.
        ("masked_passes_in_train_mode", [0.9, 1.3], 5, 1e9, True, False),
    ]
    for name, mean, count, trig, mt, released in specs:
        settings = {"alpha": alpha, "lr": lr, "clip_trigger": trig, "clip_norm": clip_norm,
                    "window": "on (modulation_starts <= epoch <= modulation_ends)",
                    "score_clamp": 10.0, "prob_floor": 1e-8,
                    "masked_passes": "train-mode" if mt else "eval-mode",
                    "optimizer": "SGD momentum 0, weight decay 0"}
        holder = {}

        def step(net, mean=mean, count=count, trig=trig, mt=mt):
            r = agm_step(net, x, y, alpha, mean, count, trig, clip_norm, lr, masked_train=mt)
            holder.update(r)
            return r

        case = run_case(base, name, settings, ["head"], step,
                        state_in={"mean": mean, "count": count},
                        extra={"released": released},
                        unreliable=("encoder.",) if mt else ())
        agm_check_hooks(base, x, y, holder["_grad"], alpha, mean, count, mt, trig, clip_norm)
        cases.append(case)
    released = [
        f"{AGM_REPO} run/CREMAD_main.py L13-L48 ({AGM_C}) train(): model.train(), mode 'train', iteration = (epoch-1)*total_batch + step + 1",
        f"{AGM_REPO} run/CREMAD_main.py L63-L69 ({AGM_C}) forward, out_a/out_v, loss = CE(out)",
        f"{AGM_REPO} run/CREMAD_main.py L108 ({AGM_C}) optimizer.zero_grad()",
        f"{AGM_REPO} run/CREMAD_main.py L126-L157 ({AGM_C}) scores with 1e-8 clamp, ratios, coefficients (clamp 10), running means",
        f"{AGM_REPO} run/CREMAD_main.py L159-L166 ({AGM_C}) window check, update_scale, backward",
        f"{AGM_REPO} run/CREMAD_main.py L233-L244 ({AGM_C}) clip rule (any |fc_out.weight.grad| > 1 -> clip_grad_norm_(all, 1.0)), step",
        f"{AGM_REPO} model/CREMAD_net.py L7-L72 ({AGM_C}) Modality_Audio/Visual, hooked identities, GradMod.forward (eval() around the three masked passes)",
        f"{AGM_REPO} model/CREMAD_net.py L75-L122 ({AGM_C}) AVClassifier: zeros_like padding, pooling, concat head",
        f"{AGM_REPO} model/CREMAD_net.py L256-L265 ({AGM_C}) ConcatFusion",
        f"{AGM_REPO} tasks/CREMAD_task.py L35-L38 ({AGM_C}) optimiser (SGD momentum 0.9, wd 1e-4; plain SGD here)",
    ]
    return {"method": "agm", "released": released, "cases": cases}


# ----------------------------------------------------------------------------------------------
# MMPareto (GeWu-Lab/MMPareto_ICML2024 a339db3)


def min_norm_two(vecs_mm, vecs_u):
    """MinNormSolver.find_min_norm_element for two tasks, code/min_norm_solvers.py L9-L30
    (_min_norm_element_from2), L32-L58 (_min_norm_2d: inner products summed over every list entry,
    here the per-tensor gradients plus their concatenation, as MMPareto.py L169/L174 passes them),
    L92-L129 (n < 3: return [c, 1 - c])."""
    def dot(a, b):
        return sum(float((u * v).sum()) for u, v in zip(a, b))
    v11, v12, v22 = dot(vecs_mm, vecs_mm), dot(vecs_mm, vecs_u), dot(vecs_u, vecs_u)
    if v12 >= v11:
        c = 0.999
    elif v12 >= v22:
        c = 0.001
    else:
        c = -1.0 * ((v12 - v22) / (v11 + v22 - 2 * v12))
    return [c, 1.0 - c]


def mmpareto_step(net, x, y, gamma, lr, heads):
    """One iteration of code/MMPareto.py train_epoch: L61 (model.train()), L74-L84 (encoder
    parameter lists: name has audio/visual and no 'head'), L93-L103 (one forward, three CE
    losses), L117-L147 (backward each loss with retain_graph, copy the relevant encoder gradients,
    zero), L149-L174 (cosine, weights: (0.5, 0.5) if cos > 0 else the min-norm solver), L178-L181
    (gamma = 1.5, backward of the sum), L184-L207 (per-tensor rescale of encoder gradients; heads
    keep the sum), L209 (step). heads = 'separate' is the released model (models/models.py
    L133-L184: head, head_audio, head_video); 'split' takes the unimodal logits from the concat head
    (BalanceBenchmark's H1, avclassify_model.py L287-L294)."""
    x = cast(net, x)
    head_names = ["head", "unimodal_head"] if heads == "separate" else ["head"]
    params = model_params(net, head_names)
    opt = torch.optim.SGD([p for _, p in params], lr=lr, momentum=0.0, weight_decay=0.0)
    rec = {m: [(n, p) for n, p in params if n.startswith(f"encoder.{m}.")] for m in MODS}
    set_encoders(net, True)
    opt.zero_grad(set_to_none=True)
    za, zv = features(net, "audio", x["audio"]), features(net, "visual", x["visual"])
    out = concat_logits(net, za, zv)
    if heads == "separate":
        out_a, out_v = net.unimodal_head["audio"](za), net.unimodal_head["visual"](zv)
    else:
        out_a, out_v = split_logits(net, za, zv)
    loss_mm, loss_a, loss_v = F.cross_entropy(out, y), F.cross_entropy(out_a, y), F.cross_entropy(out_v, y)
    grads = {"audio": {}, "visual": {}}
    for kind, loss in (("both", loss_mm), ("audio", loss_a), ("visual", loss_v)):
        loss.backward(retain_graph=True)
        for m in MODS:
            if kind in ("both", m):
                grads[m][kind] = {n: p.grad.detach().clone() for n, p in rec[m]}
        opt.zero_grad(set_to_none=True)
    cos, k = {}, {}
    for m in MODS:
        g_mm = torch.cat([g.reshape(-1) for g in grads[m]["both"].values()])
        g_u = torch.cat([g.reshape(-1) for g in grads[m][m].values()])
        cos[m] = float(F.cosine_similarity(g_mm, g_u, dim=0))
        if cos[m] > 0:
            k[m] = [0.5, 0.5]
        else:
            k[m] = min_norm_two(list(grads[m]["both"].values()) + [g_mm],
                                list(grads[m][m].values()) + [g_u])
    total = loss_mm + loss_a + loss_v
    total.backward()
    branch, zero_norm = {}, []
    for m in MODS:
        for n, p in rec[m]:
            three = torch.linalg.vector_norm(p.grad)
            new = 2 * k[m][0] * grads[m]["both"][n] + 2 * k[m][1] * grads[m][m][n]
            new_norm = torch.linalg.vector_norm(new)
            if float(new_norm) == 0.0:
                zero_norm.append(n)
            diff = three / new_norm
            if diff > 1:
                p.grad = diff * new * gamma
                branch[n] = "rescaled"
            else:
                p.grad = new * gamma
                branch[n] = "plain"
    opt.step()
    q = {
        "weights": [k["audio"][0], k["visual"][0]],
        "weights_note": "k0 (weight of the fused loss) for the audio and the visual encoder; k1 = 1 - k0",
        "weight_pairs": {"audio": k["audio"], "visual": k["visual"]},
        "cos": [cos["audio"], cos["visual"]],
        "losses": {"fused": loss_mm.item(), "audio": loss_a.item(), "visual": loss_v.item()},
        "zero_norm_tensors": zero_norm,
    }
    margins = {"cos_audio": abs(cos["audio"]), "cos_visual": abs(cos["visual"])}
    modes = ["one forward: train mode, with grad (one running update per encoder); "
             "four backwards through it (three retained captures, then the sum)"]
    return {"loss": total.item(), "bn_modes": modes, "quantities": q, "margins": margins}


def make_mmpareto(base, x, y):
    gamma, lr = 1.5, 1.0
    cases = []
    # At the initial weights the audio encoder conflicts (cos < 0) and the visual one does not;
    # with the visual unimodal head's weight scaled by -2 both conflict; the split head conflicts
    # on neither.
    over = copy.deepcopy(base)
    with torch.no_grad():
        over.unimodal_head["visual"].weight.mul_(-2.0)
    override = {"unimodal_head.visual.weight": flat(over.unimodal_head["visual"].weight)}
    specs = [("initial_weights", base, "separate", None),
             ("both_conflict_visual_head_negated", over, "separate", override),
             ("split_head", base, "split", None)]
    for name, net0, heads, ov in specs:
        settings = {"gamma": gamma, "lr": lr, "unimodal_heads": heads,
                    "optimizer": "SGD momentum 0, weight decay 0"}
        head_names = ["head", "unimodal_head"] if heads == "separate" else ["head"]
        extra = {"released": heads == "separate"}
        if ov:
            extra["params_override"] = ov
            settings["params_override_note"] = "unimodal_head.visual.weight = -2 x its initial value"
        cases.append(run_case(net0, name, settings, head_names,
                              lambda net, heads=heads: mmpareto_step(net, x, y, gamma, lr, heads),
                              extra=extra))
    released = [
        f"{MMP_REPO} code/MMPareto.py L57-L86 ({MMP_C}) train mode; encoder parameter lists (name contains audio/visual, not head)",
        f"{MMP_REPO} code/MMPareto.py L88-L147 ({MMP_C}) one forward; backward each of loss_mm, loss_a, loss_v with retain_graph; capture; zero_grad",
        f"{MMP_REPO} code/MMPareto.py L149-L174 ({MMP_C}) cosine per encoder; (0.5, 0.5) if cos > 0 else MinNormSolver",
        f"{MMP_REPO} code/MMPareto.py L178-L209 ({MMP_C}) gamma 1.5; backward of the sum; per-tensor rescale (heads skipped); step",
        f"{MMP_REPO} code/min_norm_solvers.py L9-L58 ({MMP_C}) _min_norm_element_from2, _min_norm_2d",
        f"{MMP_REPO} code/min_norm_solvers.py L92-L129 ({MMP_C}) find_min_norm_element (two tasks: closed form)",
        f"{MMP_REPO} code/models/models.py L133-L184 ({MMP_C}) AVClassifier: head (concat), head_audio, head_video",
        f"{BB_REPO} balancemm/models/avclassify_model.py L277-L301 ({BB_C}) split unimodal logits (split_head case only)",
    ]
    return {"method": "mmpareto", "released": released, "cases": cases}


# ----------------------------------------------------------------------------------------------
# OGM (GeWu-Lab/OGM-GE_CVPR2022 343dc1d), modulation "OGM" (no GE noise)


def ogm_step(net, x, y, alpha, lr):
    """main.py train_epoch: L63 (train mode), L77-L98 (zero_grad, forward, split logits with b/2,
    CE(out), backward), L105-L124 (scores = sum softmax[y], ratio_v = score_v / score_a,
    coefficient 1 - tanh(alpha * relu(ratio)) for the leader, 1 for the other), L132-L148 (only
    4-D parameters of the encoders, modulation 'OGM': grad *= coeff), L153 (step)."""
    x = cast(net, x)
    params = model_params(net, ["head"])
    opt = torch.optim.SGD([p for _, p in params], lr=lr, momentum=0.0, weight_decay=0.0)
    set_encoders(net, True)
    opt.zero_grad(set_to_none=True)
    za, zv = features(net, "audio", x["audio"]), features(net, "visual", x["visual"])
    out = concat_logits(net, za, zv)
    out_a, out_v = split_logits(net, za, zv)
    loss = F.cross_entropy(out, y)
    loss.backward()
    idx = torch.arange(N)
    score_v = F.softmax(out_v, dim=1)[idx, y].sum().item()
    score_a = F.softmax(out_a, dim=1)[idx, y].sum().item()
    ratio_v = score_v / score_a
    ratio_a = 1 / ratio_v
    if ratio_v > 1:
        coeff_v, coeff_a = 1 - math.tanh(alpha * max(ratio_v, 0.0)), 1.0
    else:
        coeff_a, coeff_v = 1 - math.tanh(alpha * max(ratio_a, 0.0)), 1.0
    coeff = {"audio": coeff_a, "visual": coeff_v}
    scaled = []
    for n, p in params:
        for m in MODS:
            if n.startswith(f"encoder.{m}.") and p.grad.dim() == 4:
                p.grad *= coeff[m]
                scaled.append(n)
    opt.step()
    q = {"scores": [score_a, score_v], "coefficients": [coeff_a, coeff_v],
         "ratio_v": ratio_v, "ratio_a": ratio_a, "scaled_params": scaled}
    modes = ["one forward: train mode, with grad (one running update per encoder)"]
    return {"loss": loss.item(), "bn_modes": modes, "quantities": q,
            "margins": {"ratio_v_minus_1": abs(ratio_v - 1)}}


def make_ogm(base, x, y):
    alpha, lr = 0.5, 1.0
    settings = {"alpha": alpha, "lr": lr, "modulation": "OGM (no GE noise)",
                "coefficient": "1 - tanh(alpha * relu(ratio)) on the leader's 4-D encoder gradients",
                "optimizer": "SGD momentum 0, weight decay 0"}
    case = run_case(base, "ogm_alpha_0.5", settings, ["head"],
                    lambda net: ogm_step(net, x, y, alpha, lr), extra={"released": True})
    released = [
        f"{OGM_REPO} main.py L57-L98 ({OGM_C}) train mode, forward, split logits (fc_out weight halves, bias / 2), CE(out), backward",
        f"{OGM_REPO} main.py L100-L124 ({OGM_C}) scores, ratio, coefficient",
        f"{OGM_REPO} main.py L132-L153 ({OGM_C}) window, 4-D encoder gradients only ('OGM': grad *= coeff), step",
    ]
    return {"method": "ogm_ge", "released": released, "cases": [case]}


# ----------------------------------------------------------------------------------------------
# MLA (Cecile-hi/Multimodal-Learning-with-Alternating-Unimodal-Adaptation ab6c184)


def mla_step(net, x, y, lr, holder):
    """main.py train_epoch, gs_flag branch L419-L476: one forward of both encoders in train mode
    (L431; models/basic_model.py L52-L77 returns the pooled features), then for audio and then
    visual: shared head fc_out (L432/L444), CE, backward, gs_plugin.before_update (a no-op as
    released: utils/utils.py L29-L32 only acts on a parameter named 'module.weight', the bare head's
    are 'weight'/'bias'; and exp_count is 0 at the very first sub-step), optimizer.step(),
    zero_grad, exp_count += 1; finally every gradient deleted (L468-L470). The reported loss is
    av_alpha * L_a + (1 - av_alpha) * L_v with av_alpha = 0.55 (L472, main(av_alpha = 0.55) L968)."""
    x = cast(net, x)
    params = model_params(net, ["shared_head"])
    opt = torch.optim.SGD([p for _, p in params], lr=lr, momentum=0.0, weight_decay=0.0)
    set_encoders(net, True)
    opt.zero_grad(set_to_none=True)
    za, zv = features(net, "audio", x["audio"]), features(net, "visual", x["visual"])
    out_a = net.shared_head(za)
    loss_a = F.cross_entropy(out_a, y)
    loss_a.backward()
    holder["head_grad_audio"] = net.shared_head.weight.grad.detach().clone()
    holder["r_audio"] = za.detach().mean(dim=0, keepdim=True)
    holder["r_visual"] = zv.detach().mean(dim=0, keepdim=True)
    moved1 = [n for n, p in params if p.grad is not None]
    opt.step()
    opt.zero_grad(set_to_none=False)  # torch 1.8.1 (the pinned version): zeroed, not None
    out_v = net.shared_head(zv)  # the head as updated by the audio sub-step
    loss_v = F.cross_entropy(out_v, y)
    loss_v.backward()
    moved2 = [n for n, p in params if p.grad is not None and float(p.grad.abs().max()) > 0]
    opt.step()
    opt.zero_grad(set_to_none=True)
    q = {"loss_audio": loss_a.item(), "loss_visual": loss_v.item(),
         "substep_moves": {"audio": moved1, "visual": moved2},
         "projection_applied_in_step": False}
    modes = ["one forward of both encoders: train mode, with grad (one running update per encoder)",
             "audio sub-step: backward of CE(shared_head(z_a)), step (audio encoder + shared head)",
             "visual sub-step: backward of CE(shared_head'(z_v)) through the forward taken before the "
             "audio step, head as updated by it; step (visual encoder + shared head)"]
    return {"loss": 0.55 * loss_a.item() + 0.45 * loss_v.item(), "bn_modes": modes, "quantities": q}


def mla_projection(r, G, t, T, P=None):
    """GSPlugin.before_update arithmetic, utils/utils.py L24-L41 (and BalanceBenchmark
    MLA_trainer.py L37-L53): lambda = t / T + 1, a = 0.1 ** lambda, r the batch mean (1 x d),
    k = P r^T (d x 1), P <- P - (k k^T) / (a + k r) with k r the d x d OUTER product divided
    element-wise, P <- P / ||P||_F; released intent G <- G P^T (replace), BalanceBenchmark
    G <- G + G P^T (add)."""
    d = r.shape[1]
    P = torch.eye(d, dtype=torch.float64) if P is None else P
    a = 1.0 * 0.1 ** (t / T + 1)
    k = P @ r.t()
    P_new = P - (k @ k.t()) / (a + k @ r)
    P_new = P_new / torch.linalg.norm(P_new, ord="fro")
    scalar = P - (k @ k.t()) / (a + float(r @ k))
    scalar = scalar / torch.linalg.norm(scalar, ord="fro")
    return a, P_new, G @ P_new.t(), G + G @ P_new.t(), scalar


def mla_test_fusion(base, x):
    """valid(), gs_flag branch, main.py L622-L651 with calculate_entropy / calculate_gating_weights
    L65-L87: model.eval(), no grad; out_m = fc_out(z_m); entropy over softmax along dim 0 (the
    batch) summed over everything: one scalar per modality; w_m = exp(max H - H_m) / sum;
    fused = out_a w_a + out_v w_v ('--dynamic'); fixed: 0.55 out_a + 0.45 out_v (main(av_alpha =
    0.55), L968). For contrast, BalanceBenchmark's per-sample form (avclassify_model.py
    L673-L700: softmax and entropy along dim 1)."""
    net = copy.deepcopy(base)
    set_encoders(net, False)
    with torch.no_grad():
        za, zv = features(net, "audio", x["audio"]), features(net, "visual", x["visual"])
        oa, ov = net.shared_head(za), net.shared_head(zv)

        def entropy_batch(o):
            p = F.softmax(o, dim=0)
            return -(p * torch.log(p)).sum()

        ha, hv = entropy_batch(oa), entropy_batch(ov)
        mx = torch.max(ha, hv)
        wa, wv = torch.exp(mx - ha), torch.exp(mx - hv)
        s = wa + wv
        wa, wv = wa / s, wv / s
        dyn = oa * wa + ov * wv
        fixed = 0.55 * oa + 0.45 * ov

        def entropy_rows(o):
            p = F.softmax(o, dim=1)
            return -(p * torch.log(p)).sum(dim=1, keepdim=True)

        ea, ev = entropy_rows(oa), entropy_rows(ov)
        m2 = torch.max(ea, ev)
        ga, gv = torch.exp(m2 - ea), torch.exp(m2 - ev)
        ga, gv = ga / (ga + gv), gv / (ga + gv)
        per = oa * ga + ov * gv
    return {
        "bn_mode": "eval mode, no grad, initial network (running statistics of network.json)",
        "features": {"audio": [flat(r) for r in za], "visual": [flat(r) for r in zv]},
        "logits": {"audio": [flat(r) for r in oa], "visual": [flat(r) for r in ov]},
        "dynamic_batch_released": {"entropy": [float(ha), float(hv)],
                                   "weights": [float(wa), float(wv)],
                                   "fused": [flat(r) for r in dyn]},
        "fixed_0.55_released": {"weights": [0.55, 0.45], "fused": [flat(r) for r in fixed]},
        "per_sample_balancebenchmark": {"entropy": [flat(ea), flat(ev)],
                                        "weights": [flat(ga), flat(gv)],
                                        "fused": [flat(r) for r in per]},
        "entropy_gap": abs(float(ha - hv)),
    }


def make_mla(base, x, y):
    lr = 0.1
    holder = {}
    settings = {"lr": lr, "projection": "off (released: never runs)", "order": ["audio", "visual"],
                "av_alpha_logged": 0.55, "optimizer": "SGD momentum 0, weight decay 0"}
    case = run_case(base, "alternating_two_substeps", settings, ["shared_head"],
                    lambda net: mla_step(net, x, y, lr, holder), extra={"released": True})
    r, G = holder["r_audio"], holder["head_grad_audio"]
    t, T = 1, 4
    a, P1, g_replace, g_add, P_scalar = mla_projection(r, G, t, T)
    _, P2, _, _, _ = mla_projection(holder["r_visual"], G, t, T, P=P1)
    case["quantities"]["projection"] = {
        "inputs": {"P": "identity 8 x 8", "r": flat(r), "r_source": "batch mean of the training-mode audio features of this step (before any update)",
                   "t": t, "T": T, "a": a, "head_weight_grad": [flat(row) for row in G]},
        "P_after": [flat(row) for row in P1],
        "projected_head_weight_grad_replace_released_intent": [flat(row) for row in g_replace],
        "projected_head_weight_grad_add_balancebenchmark": [flat(row) for row in g_add],
        "second_update_with_visual_mean": {"r": flat(holder["r_visual"]),
                                           "P_after": [flat(row) for row in P2],
                                           "max_abs_asymmetry": float((P2 - P2.t()).abs().max())},
        "for_contrast_scalar_denominator_not_released": [flat(row) for row in P_scalar],
    }
    tf = mla_test_fusion(base, x)
    case["quantities"]["test_fusion"] = tf
    case["decision_margins"] = {"test_entropy_gap": tf["entropy_gap"]}
    released = [
        f"{MLA_REPO} main.py L419-L476 ({MLA_C}) gs_flag training: one forward, audio then visual sub-steps, delete grads, logged loss",
        f"{MLA_REPO} main.py L65-L87 ({MLA_C}) calculate_entropy (softmax dim 0), calculate_gating_weights",
        f"{MLA_REPO} main.py L622-L651 ({MLA_C}) valid(): fc_out per modality, dynamic or fixed av_alpha fusion",
        f"{MLA_REPO} main.py L697, L749, L968 ({MLA_C}) main(av_alpha = 0.55); SGD momentum 0.9, wd 1e-4 (plain SGD here)",
        f"{MLA_REPO} utils/utils.py L12-L41 ({MLA_C}) GSPlugin: 'module.weight' name test, outer-product denominator, replace",
        f"{MLA_REPO} models/basic_model.py L14-L77 ({MLA_C}) AVClassifier (gs_flag: fc_out 512 -> classes, returns features)",
        f"{BB_REPO} balancemm/trainer/MLA_trainer.py L20-L53 ({BB_C}) GSPlugin ('weight', add)",
        f"{BB_REPO} balancemm/trainer/MLA_trainer.py L129-L179 ({BB_C}) per-modality feature_extract, step, zero_grad, delete grads",
        f"{BB_REPO} balancemm/models/avclassify_model.py L673-L700 ({BB_C}) per-sample gating (contrast only)",
    ]
    return {"method": "mla", "released": released, "cases": [case]}


# ----------------------------------------------------------------------------------------------
# PMR (fanyunfeng-bit/Modal-Imbalance-PMR 3615e48)


def eu_dist(x1, x2):
    """EU_dist, main_Prototype_grad.py L69-L75: the non-squared Euclidean distance, element by
    element (computed in float64 here; the released matrix is float32)."""
    d = torch.zeros(x1.shape[0], x2.shape[0], dtype=x1.dtype)
    for i in range(x1.shape[0]):
        for j in range(x2.shape[0]):
            d[i, j] = torch.sqrt(torch.dot(x1[i] - x2[j], x1[i] - x2[j]))
    return d


def calculate_prototype(net, x, y, epoch, mu, old=None):
    """calculate_prototype, main_Prototype_grad.py L383-L441: model.eval(), no grad, the TRAIN
    loader (L539, L557), class sums and counts, break once sample_count >= len(loader) // 10 (here
    one batch of 6: 1 // 10 = 0, so that one batch), divide; epoch <= 0 replaces, otherwise
    (1 - mu) * new + mu * old."""
    set_encoders(net, False)
    with torch.no_grad():
        za, zv = features(net, "audio", x["audio"]), features(net, "visual", x["visual"])
        protos = {m: torch.zeros(CLASSES, 8 * WIDTH, dtype=za.dtype) for m in MODS}
        count = [0] * CLASSES
        for c, l in enumerate(y.tolist()):
            count[l] += 1
            protos["audio"][l] += za[c]
            protos["visual"][l] += zv[c]
        for m in MODS:
            for c in range(CLASSES):
                protos[m][c] /= count[c]
        if epoch > 0:
            protos = {m: (1 - mu) * protos[m] + mu * old[m] for m in MODS}
    set_encoders(net, True)
    return protos


def pmr_step(net, x, y, protos, alpha, epoch, window, lr):
    """train_epoch, main_Prototype_grad.py L98 (train mode), L126-L144 (zero_grad, forward, split
    logits b/2), L152-L153 (sims = -EU_dist to constant prototypes), L156-L180 (in the window:
    prototype scores sum softmax(sim)[y], ratio_a_p = score_a_p / score_v_p; beta (audio) and lam
    (visual): 0 and alpha if ratio > 1, alpha and 0 if < 1, 0 and 0 if equal; loss = CE(out) +
    beta CE(sim_a) + lam CE(sim_v)), L181-L186 (outside: CE(out)), L219 (backward), L271 (step)."""
    x = cast(net, x)
    protos = cast(net, protos)
    params = model_params(net, ["head"])
    opt = torch.optim.SGD([p for _, p in params], lr=lr, momentum=0.0, weight_decay=0.0)
    set_encoders(net, True)
    opt.zero_grad(set_to_none=True)
    za, zv = features(net, "audio", x["audio"]), features(net, "visual", x["visual"])
    out = concat_logits(net, za, zv)
    out_a, out_v = split_logits(net, za, zv)
    sim_a, sim_v = -eu_dist(za, protos["audio"]), -eu_dist(zv, protos["visual"])
    idx = torch.arange(N)
    score_a_p = F.softmax(sim_a, dim=1)[idx, y].sum().item()
    score_v_p = F.softmax(sim_v, dim=1)[idx, y].sum().item()
    ratio_a_p = score_a_p / score_v_p
    score_a = F.softmax(out_a, dim=1)[idx, y].sum().item()
    score_v = F.softmax(out_v, dim=1)[idx, y].sum().item()
    inside = window[0] <= epoch <= window[1]
    if inside:
        if ratio_a_p > 1:
            beta, lam = 0.0, alpha
        elif ratio_a_p < 1:
            beta, lam = alpha, 0.0
        else:
            beta, lam = 0.0, 0.0
        loss = F.cross_entropy(out, y) + beta * F.cross_entropy(sim_a, y) + lam * F.cross_entropy(sim_v, y)
    else:
        beta, lam = 0.0, 0.0
        loss = F.cross_entropy(out, y)
    loss.backward()
    opt.step()
    q = {"prototypes": {m: [flat(r) for r in protos[m]] for m in MODS},
         "scores": [score_a_p, score_v_p], "coefficients": [beta, lam], "ratio_a_p": ratio_a_p,
         "split_logit_scores_logging_only": [score_a, score_v],
         "proto_losses": [F.cross_entropy(sim_a, y).item(), F.cross_entropy(sim_v, y).item()],
         "in_window": inside}
    modes = ["one forward: train mode, with grad (one running update per encoder); prototypes are constants"]
    return {"loss": loss.item(), "bn_modes": modes, "quantities": q,
            "margins": {"ratio_a_p_minus_1": abs(ratio_a_p - 1)} if inside else {}}


def make_pmr(base, x, y):
    alpha, mu, window, lr = 2.0, 0.0, [0, 70], 1.0
    net = copy.deepcopy(base)
    p0 = calculate_prototype(net, x, y, epoch=0, mu=mu)
    assert tracked(net, "audio") == tracked(base, "audio")  # eval mode: no running update
    old = {m: torch.tensor([[0.1 * (c + 1) - 0.05 * j for j in range(8 * WIDTH)]
                            for c in range(CLASSES)], dtype=torch.float64) for m in MODS}
    p1_released = calculate_prototype(net, x, y, epoch=1, mu=mu, old=old)
    p1_default = calculate_prototype(net, x, y, epoch=1, mu=0.2, old=old)
    prototypes = {
        "bn_mode": "eval mode, no grad (running statistics, no running update); data: the training loader (training view)",
        "old_for_epoch_1": {m: [flat(r) for r in old[m]] for m in MODS},
        "epoch_0_replace": {m: [flat(r) for r in p0[m]] for m in MODS},
        "epoch_1_mu_0.0_released_run": {m: [flat(r) for r in p1_released[m]] for m in MODS},
        "epoch_1_mu_0.2_argparse_default": {m: [flat(r) for r in p1_default[m]] for m in MODS},
    }
    settings = {"alpha": alpha, "momentum_coef": mu, "window": window, "epoch": 0, "lr": lr,
                "coef_mode": "binary",
                "released_run": "bash.sh L229: CREMA-D concat, 3 frames, 130 epochs, Adam lr 1e-3 betas (0.9, 0.99) (main L469-L471), window 0-70, alpha 2.0, momentum_coef 0.0",
                "optimizer": "SGD momentum 0, weight decay 0 (the released run uses Adam; plain SGD exposes the gradient)"}
    state = {"prototypes": {m: [flat(r) for r in p0[m]] for m in MODS},
             "prototypes_source": "quantities.prototype_pass.epoch_0_replace"}
    cases = []
    for name, epoch in (("step_in_window", 0), ("step_outside_window", 71)):
        s = dict(settings, epoch=epoch)
        c = run_case(base, name, s, ["head"],
                     lambda net, epoch=epoch: pmr_step(net, x, y, p0, alpha, epoch, window, lr),
                     state_in=state, extra={"released": True})
        c["quantities"]["prototype_pass"] = prototypes
        cases.append(c)
    released = [
        f"{PMR_REPO} main_Prototype_grad.py L69-L75 ({PMR_C}) EU_dist (non-squared)",
        f"{PMR_REPO} main_Prototype_grad.py L91-L186 ({PMR_C}) train_epoch: forward, split logits, prototype sims, scores, binary coefficients, loss",
        f"{PMR_REPO} main_Prototype_grad.py L219, L271 ({PMR_C}) backward, step",
        f"{PMR_REPO} main_Prototype_grad.py L383-L441 ({PMR_C}) calculate_prototype: eval, no grad, train loader, first len//10 batches, epoch <= 0 replaces",
        f"{PMR_REPO} main_Prototype_grad.py L463-L471 ({PMR_C}) SGD / AdaGrad / Adam (betas 0.9, 0.99)",
        f"{PMR_REPO} main_Prototype_grad.py L532-L557 ({PMR_C}) order: prototypes (epoch 0) before training, then after every epoch with that epoch's index",
        f"{PMR_REPO} bash.sh L229 ({PMR_C}) the CREMA-D concat Adam run: --alpha 2.0 --momentum_coef 0.0 --modulation_starts 0 --modulation_ends 70 --epochs 130 --learning_rate 0.001",
        f"{BB_REPO} balancemm/trainer/PMR_trainer.py L61-L66, L200-L251 ({BB_C}) prototypes at each epoch start, eval, train loader, EMA from epoch 1",
        f"{BB_REPO} balancemm/trainer/PMR_trainer.py L107-L199 ({BB_C}) the same two-modality step",
    ]
    return {"method": "pmr", "released": released, "cases": cases}


# ----------------------------------------------------------------------------------------------
# G-Blending (GeWu-Lab/BalanceBenchmark 4c1482f)


def bb_forward(net, xa, xv, padding):
    """BaseClassifierModel.forward, avclassify_model.py L256-L275: zeros_like for padded
    modalities (still encoded), concat fusion output, split unimodal logits (b / M)."""
    if "audio" in padding:
        xa = torch.zeros_like(xa)
    if "visual" in padding:
        xv = torch.zeros_like(xv)
    za, zv = features(net, "audio", xa), features(net, "visual", xv)
    out = concat_logits(net, za, zv)
    ua, uv = split_logits(net, za, zv)
    return {"audio": ua, "visual": uv, "output": out}


def batches(x, y, size):
    for s in range(0, y.shape[0], size):
        yield {m: x[m][s:s + size] for m in MODS}, y[s:s + size]


def super_epoch_origin(base, x, y, val, val_y, super_epoch, copy_lr, batch):
    """GBlendingTrainer.super_epoch_origin, GBlending_trainer.py L306-L376: for each of audio,
    visual, output: a copy loaded with the model's state_dict (running statistics included) and its
    optimiser restored to its initial state (base lr; train.py L86-L87); padding = the other
    modalities (none for output); for each of super_epoch epochs: train mode, per training batch
    zero_grad / forward / CE of the (padded) fused output / backward / step, summing loss.item() (the
    in-epoch training-mode batch losses, before each batch's step); after epoch 0 and after the last
    epoch: eval mode, no grad, the sum over validation batches of the batch-mean CE. Then
    G = now_val - pre_val, O = (now_val - now_train) - (pre_val - pre_train), w = |G / O^2|,
    normalised to sum 1."""
    x, val = cast(base, x), cast(base, val)
    weights, T, V, GO = {}, {}, {}, {}
    for k in MODS + ["output"]:
        tmp = copy.deepcopy(base)
        params = model_params(tmp, ["head"])
        opt = torch.optim.SGD([p for _, p in params], lr=copy_lr, momentum=0.0, weight_decay=0.0)
        padding = [m for m in MODS if m != k and k != "output"]
        pre_t = now_t = pre_v = now_v = 0.0
        c0 = {m: tracked(tmp, m) for m in MODS}
        for epoch in range(super_epoch):
            set_encoders(tmp, True)
            run = 0.0
            for bx, by in batches(x, y, batch):
                opt.zero_grad(set_to_none=True)
                out = bb_forward(tmp, bx["audio"], bx["visual"], padding)["output"]
                loss = F.cross_entropy(out, by)
                loss.backward()
                opt.step()
                run += loss.item()
            if epoch == 0 or epoch == super_epoch - 1:
                set_encoders(tmp, False)
                with torch.no_grad():
                    lv = 0.0
                    for bx, by in batches(val, val_y, batch):
                        out = bb_forward(tmp, bx["audio"], bx["visual"], padding)["output"]
                        lv += float(F.cross_entropy(out, by))
                if epoch == 0:
                    pre_t, pre_v = run, lv
                else:
                    now_t, now_v = run, lv
        g = now_v - pre_v
        o = (now_v - now_t) - (pre_v - pre_t)
        weights[k] = abs(g / o ** 2)
        T[k], V[k] = {"pre": pre_t, "now": now_t}, {"pre": pre_v, "now": now_v}
        GO[k] = {"G": g, "O": o,
                 "copy_running_updates_per_encoder": {m: tracked(tmp, m) - c0[m] for m in MODS}}
    s = sum(weights.values())
    return {k: w / s for k, w in weights.items()}, T, V, GO


def gblending_step(net, x, y, weights, lr):
    """GBlendingTrainer.training_step, GBlending_trainer.py L292-L303 (train_loop L248-L269,
    model.train() L102): one forward, loss = sum over audio, visual, output of
    w_k * CE(logits_k) with the split unimodal logits, backward, step."""
    x = cast(net, x)
    params = model_params(net, ["head"])
    opt = torch.optim.SGD([p for _, p in params], lr=lr, momentum=0.0, weight_decay=0.0)
    set_encoders(net, True)
    opt.zero_grad(set_to_none=True)
    res = bb_forward(net, x["audio"], x["visual"], [])
    loss = sum(weights[k] * F.cross_entropy(res[k], y) for k in MODS + ["output"])
    loss.backward()
    opt.step()
    return loss.item()


def make_gblending(base, x, y, val, val_y):
    super_epoch, copy_lr, lr = 2, 0.1, 1.0

    def step_for(batch):
        def step(net):
            # The estimate starts from the model as it is before the step (copies of it).
            w, T, V, GO = super_epoch_origin(net, x, y, val, val_y, super_epoch, copy_lr, batch)
            loss = gblending_step(net, x, y, w, lr)
            q = {"weights": [w["audio"], w["visual"], w["output"]],
                 "weights_order": ["audio", "visual", "output"], "T": T, "V": V, "G_O": GO}
            modes = [
                "estimate, per copy (audio: visual zeroed; visual: audio zeroed; output: none): training "
                "batches in train mode with grad (one running update per encoder per batch, the zeroed "
                "encoder updating from all-zero batches); validation after epoch 0 and the last epoch in eval mode, no grad",
                "weighted step on the model: one forward, train mode, with grad (one running update per encoder)"]
            margins = {"abs_G_min": min(abs(GO[k]["G"]) for k in GO),
                       "abs_O_min": min(abs(GO[k]["O"]) for k in GO)}
            return {"loss": loss, "bn_modes": modes, "quantities": q, "margins": margins}
        return step

    def settings_for(batch, train_batches):
        # copy_lr_is_base_lr: each copy's optimiser is restored to its initial state (train.py
        # L86-L87), so the copies run at the configured base lr (here copy_lr), not a scheduled one.
        return {"super_epoch": super_epoch, "copy_lr": copy_lr, "lr": lr, "batch_size": batch,
                "copy_lr_is_base_lr": True,
                "train_batches": train_batches,
                "val_batches": "the 3 validation samples, one batch",
                "optimizer": "SGD momentum 0, weight decay 0 (copies restored to their initial state, lr copy_lr)"}

    hw = x["audio"].shape[-1]
    first = "super_epoch_then_weighted_step"
    case = run_case(base, first, settings_for(3, "samples [0, 1, 2] then [3, 4, 5] (no shuffle)"),
                    ["head"], step_for(3),
                    extra={"released": True,
                           "network": {
                               "params": "network.json (identical values)",
                               "height": hw, "width_px": hw,
                               "why": f"at 16 x 16 the copies' zeroed encoder is degenerate: {DEGENERATE}",
                               "inputs": {m: [flat(r) for r in x[m]] for m in MODS},
                               "labels": LABELS},
                           "validation": {"labels": VAL_LABELS,
                                          "inputs": {m: [flat(r) for r in val[m]] for m in MODS}}})
    # The same estimate with batch size 6: every copy epoch is one batch of all 6 training samples
    # (and validation one batch of 3), so the result does not depend on the order of the batches
    # or of the samples in them (batch-norm statistics and the batch-mean CE are order-free).
    one = run_case(base, "one_batch_per_epoch",
                   settings_for(6, "samples [0, 1, 2, 3, 4, 5], one batch per copy epoch (order-free)"),
                   ["head"], step_for(6),
                   extra={"released": True,
                          "network": {
                              "params": "network.json (identical values)",
                              "height": hw, "width_px": hw,
                              "inputs_same_as_case": first,
                              "labels": LABELS},
                          "validation": {"labels": VAL_LABELS, "inputs_same_as_case": first}})
    # Here the audio copy's G is small (|G| ~ 6e-5): w = |G / O^2| takes the absolute value, so the
    # sign of G decides nothing, but the audio weight carries the relative rounding of G. Measure
    # the weights of a float32 estimate (torch float32 on a float32 copy) against float64.
    w32 = super_epoch_origin(copy.deepcopy(base).float(), x, y, val, val_y, super_epoch, copy_lr, 6)[0]
    w64 = one["quantities"]["weights"]
    one["f32_check"]["weights_max_abs_diff"] = max(
        abs(w32[k] - w64[i]) for i, k in enumerate(one["quantities"]["weights_order"]))
    one["decision_margins_exempt"] = {
        "abs_G_min": "not a decision: w = |G / O^2| is continuous through G = 0 (the sign of G is "
                     "unused); a small |G| only scales the rounding of that weight (see "
                     "f32_check.weights_max_abs_diff), so the 1e-3 margin check skips it"}
    released = [
        f"{BB_REPO} balancemm/trainer/GBlending_trainer.py L89-L106 ({BB_C}) fit: at epoch % super_epoch == 0 (epoch 0 included), model.train(), estimate, then the epoch",
        f"{BB_REPO} balancemm/trainer/GBlending_trainer.py L292-L303 ({BB_C}) training_step: sum_k w_k CE(unimodal_result[k])",
        f"{BB_REPO} balancemm/trainer/GBlending_trainer.py L306-L376 ({BB_C}) super_epoch_origin: copies, padding, in-epoch train loss sum, eval val sums, w = |G / O^2|",
        f"{BB_REPO} balancemm/train.py L82-L88 ({BB_C}) temp model and optimiser (config lr), origin state copied once",
        f"{BB_REPO} balancemm/models/avclassify_model.py L256-L301 ({BB_C}) zeros_like padding, concat output, split logits b / M",
        f"{BB_REPO} configs/trainer_config.yaml L34-L39 ({BB_C}) super_epoch 10, online",
    ]
    return {"method": "gblending", "released": released, "cases": [case, one]}


# ----------------------------------------------------------------------------------------------
# MMCosine (GeWu-Lab/BalanceBenchmark 4c1482f), balancemm/trainer/MMCosine_trainer.py


def concat_train_forward(net, x, lr):
    """The start of a released step on the concat model: plain SGD over the encoders and `head`,
    encoders in train mode, gradients cleared, one forward (one running update per encoder).
    Returns the optimiser and the two features."""
    x = cast(net, x)
    params = model_params(net, ["head"])
    opt = torch.optim.SGD([p for _, p in params], lr=lr, momentum=0.0, weight_decay=0.0)
    set_encoders(net, True)
    opt.zero_grad(set_to_none=True)
    return opt, features(net, "audio", x["audio"]), features(net, "visual", x["visual"])


def cosine_logits(net, za, zv, scale):
    """MMCosine_trainer.py L115-L125 (training_step) and L221-L227 (validation_step): each
    modality's features F.normalize'd per sample (dim 1) times its columns of fc_out's weight,
    transposed and F.normalize'd per class (dim 0), no bias; each times `scaling`; output = their
    sum."""
    w = net.head.weight
    d = za.shape[1]
    ua = torch.mm(F.normalize(za, dim=1), F.normalize(w[:, :d].t(), dim=0)) * scale
    uv = torch.mm(F.normalize(zv, dim=1), F.normalize(w[:, d:].t(), dim=0)) * scale
    return ua, uv, ua + uv


def mmcosine_step(net, x, y, scale, epoch, window, lr):
    """MMCosine_trainer.py training_step L92-L137: one forward of the model in train mode (L107;
    BaseTrainer sets model.train() for the epoch); inside modulation_starts <= epoch <=
    modulation_ends (L112) the loss is CE(sum of the scaled cosine logits) (L115-L131), outside
    CE(out) of the concat head (L134); backward (L135); the optimiser steps (L66). The head bias is
    in no loss inside the window: its grad stays None and SGD skips it (delta 0)."""
    opt, za, zv = concat_train_forward(net, x, lr)
    inside = window[0] <= epoch <= window[1]
    if inside:
        ua, uv, out = cosine_logits(net, za, zv, scale)
    else:
        out = concat_logits(net, za, zv)
    loss = F.cross_entropy(out, y)
    loss.backward()
    bias_grad_none = net.head.bias.grad is None
    opt.step()
    q = {"in_window": inside, "head_bias_grad_is_none": bias_grad_none}
    if inside:
        q["max_abs_unimodal_logit"] = float(max(ua.abs().max(), uv.abs().max()).detach())
    modes = ["one forward: train mode, with grad (one running update per encoder)"]
    return {"loss": loss.item(), "bn_modes": modes, "quantities": q}


def mmcosine_test_logits(base, x, scale):
    """validation_step L208-L235 on the initial network: model.eval() (val_loop L159), no grad,
    the fused output = sum of the scaled cosine logits, predictions its argmax."""
    net = copy.deepcopy(base)
    set_encoders(net, False)
    with torch.no_grad():
        xx = cast(net, x)
        za, zv = features(net, "audio", xx["audio"]), features(net, "visual", xx["visual"])
        ua, uv, out = cosine_logits(net, za, zv, scale)
    top2 = out.topk(2, dim=1).values
    return {"logits": [flat(r) for r in out], "unimodal": {"audio": [flat(r) for r in ua],
            "visual": [flat(r) for r in uv]},
            "margin": float((top2[:, 0] - top2[:, 1]).min())}


def make_mmcosine(base, x, y):
    lr = 1.0
    cases = []
    for name, scale, epoch in (("scale_15_in_window", 15.0, 0), ("scale_2_in_window", 2.0, 3),
                               ("outside_window", 15.0, 81)):
        window = (0, 80)
        settings = {"scaling": scale, "epoch": epoch, "modulation_starts": window[0],
                    "modulation_ends": window[1], "lr": lr,
                    "optimizer": "SGD momentum 0, weight decay 0"}
        cases.append(run_case(base, name, settings, ["head"],
                              lambda net, s=scale, e=epoch, w=window: mmcosine_step(net, x, y, s, e, w, lr),
                              extra={"released": True}))
    cases[0]["quantities"]["test"] = mmcosine_test_logits(base, x, 15.0)
    released = [
        f"{BB_REPO} balancemm/trainer/MMCosine_trainer.py L26-L32 ({BB_C}) modulation window and scaling from the method config",
        f"{BB_REPO} balancemm/trainer/MMCosine_trainer.py L92-L137 ({BB_C}) training step: forward, cosine logits inside the window, CE, backward",
        f"{BB_REPO} balancemm/trainer/MMCosine_trainer.py L208-L235 ({BB_C}) validation step: the sum of the cosine logits, always",
        f"{BB_REPO} configs/trainer_config.yaml L51-L55 ({BB_C}) scaling 15, modulation 0-80",
    ]
    return {"method": "mmcosine", "released": released, "cases": cases}


# ----------------------------------------------------------------------------------------------
# CML (GeWu-Lab/BalanceBenchmark 4c1482f), balancemm/trainer/CML_trainer.py


def cml_step(net, x, y, order, lam, epoch, window, lr, per_sample=False):
    """CML_trainer.py training_step, the two-modality branch L170-L210: one forward in train mode
    (L175); the unimodal logits of the model's unimodality_calculate (avclassify_model.py
    L277-L301: u_m = z_m W_m^T + b/2, 'output' = the concat head's out; the trainer calls it as
    `Unimodality_Calculate`, a name the model does not define, and indexes the dict the model
    keeps); `random_dict.pop()` removes the last modality of the epoch's shuffled order (L181-L183);
    out_p = out_s - u_removed + b/2 (L185); conf = max softmax (L187-L191); loss = CE(out_s) +
    CE(out_p) (L193-L197); conf_loss (L19-L22): Python max(0, sum(conf_p - conf_s)) (a constant 0
    when the sum is not positive); loss / 2 + lam * hinge (L201); outside the window CE(out)
    (L209); backward (L210); step. `per_sample` (released: false) takes sum(relu(conf_p - conf_s))."""
    opt, za, zv = concat_train_forward(net, x, lr)
    out = concat_logits(net, za, zv)
    ua, uv = split_logits(net, za, zv)
    u = {"audio": ua, "visual": uv}
    q = {"in_window": window[0] <= epoch <= window[1], "order": list(order)}
    margins = {}
    if q["in_window"]:
        random_dict = list(order)
        removed = random_dict.pop()
        out_s = out
        out_p = out_s - u[removed] + net.head.bias / 2
        conf_s = F.softmax(out_s, dim=1).max(dim=1).values
        conf_p = F.softmax(out_p, dim=1).max(dim=1).values
        ce_full, ce_partial = F.cross_entropy(out_s, y), F.cross_entropy(out_p, y)
        diff = conf_p - conf_s
        if per_sample:
            pc = torch.relu(diff).sum()
            margins["min_abs_conf_diff"] = float(diff.detach().abs().min())
        else:
            pc = max(0, diff.sum())
            margins["abs_hinge_sum"] = abs(float(diff.detach().sum()))
        loss = (ce_full + ce_partial) / 2 + lam * pc
        q.update({"removed": removed, "ce_full": ce_full.item(), "ce_partial": ce_partial.item(),
                  "conf_full": flat(conf_s), "conf_partial": flat(conf_p),
                  "hinge_sum": float(diff.detach().sum()),
                  "hinge": float(pc.detach()) if torch.is_tensor(pc) else float(pc),
                  "partial_logits": [flat(r) for r in out_p]})
    else:
        loss = F.cross_entropy(out, y)
        q["ce_full"] = loss.item()
    loss.backward()
    opt.step()
    modes = ["one forward: train mode, with grad (one running update per encoder)"]
    return {"loss": loss.item(), "bn_modes": modes, "quantities": q, "margins": margins}


def cml_opposed_head(base, x, removed, share):
    """A copy of the network whose head columns of `removed` make that modality's logits
    -share x the kept modality's on the training batch (train-mode features of that batch; the
    minimum-norm solution, d = 8 > n = 6), so that removing it sharpens the output and the
    released batch-sum hinge is active. Returns the copy and its head weight."""
    net = copy.deepcopy(base)
    probe = copy.deepcopy(base)
    set_encoders(probe, True)
    with torch.no_grad():
        xx = cast(probe, x)
        z = {m: features(probe, m, xx[m]) for m in MODS}
        d = net.head.weight.shape[1] // 2
        cols = {"audio": slice(0, d), "visual": slice(d, 2 * d)}
        kept = "audio" if removed == "visual" else "visual"
        target = -share * (z[kept] @ net.head.weight[:, cols[kept]].t())
        w_t = torch.linalg.pinv(z[removed]) @ target
        net.head.weight[:, cols[removed]] = w_t.t()
    return net, flat(net.head.weight)


def make_cml(base, x, y):
    lr, window = 1.0, (0, 80)
    cases = []
    opposed, opposed_w = cml_opposed_head(base, x, "visual", 0.8)
    for name, net0, order, lam, epoch, per_sample in (
            ("lam_0.1_visual_removed", base, ["audio", "visual"], 0.1, 0, False),
            ("lam_0.1_audio_removed", base, ["visual", "audio"], 0.1, 0, False),
            ("hinge_active_lam_5_visual_removed", opposed, ["audio", "visual"], 5.0, 0, False),
            ("per_sample_lam_5_audio_removed", base, ["visual", "audio"], 5.0, 0, True),
            ("outside_window", base, ["audio", "visual"], 0.1, 81, False)):
        settings = {"lam": lam, "order": order, "epoch": epoch, "modulation_starts": window[0],
                    "modulation_ends": window[1], "lr": lr, "hinge": "per-sample" if per_sample else "batch-sum",
                    "optimizer": "SGD momentum 0, weight decay 0"}
        extra = {"released": not per_sample}
        if net0 is opposed:
            extra["params_override"] = {"head.weight": opposed_w}
            settings["params_override_note"] = ("head.weight's visual columns set so that the visual "
                                                "logits are -0.8 x the audio ones on this batch")
        cases.append(run_case(net0, name, settings, ["head"],
                              lambda net, o=order, l=lam, e=epoch, ps=per_sample:
                              cml_step(net, x, y, o, l, e, window, lr, ps),
                              extra=extra))
    released = [
        f"{BB_REPO} balancemm/trainer/CML_trainer.py L19-L22 ({BB_C}) conf_loss: max(0, batch sum of conf_p - conf_s); the sign mask is unused",
        f"{BB_REPO} balancemm/trainer/CML_trainer.py L54-L67 ({BB_C}) the modality list shuffled once per epoch",
        f"{BB_REPO} balancemm/trainer/CML_trainer.py L170-L210 ({BB_C}) two modalities: forward, out_p = out_s - u_removed + b/2, CE(out_s) + CE(out_p), / 2 + lam * hinge",
        f"{BB_REPO} balancemm/models/avclassify_model.py L277-L301 ({BB_C}) u_m = z_m W_m^T + b/M, 'output' = out",
        f"{BB_REPO} configs/trainer_config.yaml L29-L33 ({BB_C}) lam 0.1, modulation 0-80",
    ]
    return {"method": "cml", "released": released, "cases": cases}


# ----------------------------------------------------------------------------------------------
# MBSD (GeWu-Lab/BalanceBenchmark 4c1482f), balancemm/trainer/MBSD_trainer.py


def mbsd_step(net, x, y, epoch, window, lr, kl="released", detach_w=False):
    """MBSD_trainer.py training_step, the two-modality branch L95-L159 and L226-L229: one forward
    in train mode (L107); the split unimodal logits u_m = z_m W_m^T + b/2 (the model's
    unimodality_calculate; the trainer calls it as `Unimodality_Calculate`, a name the model does
    not define, and reads the dict the forward keeps); CE(out) + CE(u_a) + CE(u_v) (L119-L121);
    p_m = softmax(u_m) (L125-L126); inside the window (L129): RS_i = 1/C sum_c (u_a - u_v)^2
    (L132); per sample, w_i = max(p_a,y, p_v,y) - min(...) when either modality's argmax is y,
    else 0, ps_i = max, pw_i = min (Python's max/min of 0-dim tensors, written into fresh tensors
    in place, so they carry gradient) (L134-L151); KL = F.kl_div(ps, pw, reduction='none') =
    pw (log pw - ps) (L153); w.KL / n and w.RS / n (L154-L158); total (L159); outside the window
    CE(out) (L228); backward (L229); step. `kl="true"` (not released) passes log ps;
    `detach_w` (not released) detaches w."""
    opt, za, zv = concat_train_forward(net, x, lr)
    out = concat_logits(net, za, zv)
    ua, uv = split_logits(net, za, zv)
    q = {"in_window": window[0] <= epoch <= window[1]}
    margins = {}
    loss = F.cross_entropy(out, y)
    q["ce_fused"] = loss.item()
    if q["in_window"]:
        loss = loss + F.cross_entropy(ua, y) + F.cross_entropy(uv, y)
        pa, pv = F.softmax(ua, dim=1), F.softmax(uv, dim=1)
        rs = 1 / ua.shape[1] * torch.sum((ua - uv) ** 2, dim=1)
        n = len(y)
        w = torch.zeros(n, dtype=out.dtype)
        ps = torch.zeros(n, dtype=out.dtype)
        pw = torch.zeros(n, dtype=out.dtype)
        pred_a, pred_v = pa.argmax(dim=-1), pv.argmax(dim=-1)
        for i in range(n):
            a, v = pa[i][y[i]], pv[i][y[i]]
            if pred_a[i] == y[i] or pred_v[i] == y[i]:
                w[i] = max(a, v) - min(a, v)
            ps[i] = max(a, v)
            pw[i] = min(a, v)
        if detach_w:
            w = w.detach()
        kl_terms = F.kl_div(ps.log() if kl == "true" else ps, pw, reduction="none")
        loss_kl = torch.mm(w.reshape(1, -1), kl_terms.reshape(-1, 1)) / n
        loss_rs = torch.mm(w.reshape(1, -1), rs.reshape(-1, 1)) / n
        loss = loss + loss_rs.squeeze() + loss_kl.squeeze()
        idx = torch.arange(n)

        def label_gap(p):
            # p_y - max_{c != y} p_c: > 0 when the modality predicts y
            other = p.detach().clone()
            other[idx, y] = -1.0
            return p.detach()[idx, y] - other.max(dim=1).values
        # "either modality predicts y" flips only when the larger of the two gaps crosses 0
        either = torch.maximum(label_gap(pa), label_gap(pv))
        margins = {"min_abs_pa_y_minus_pv_y": float((pa[idx, y] - pv[idx, y]).detach().abs().min()),
                   "min_abs_either_right_gap": float(either.abs().min())}
        q.update({"weights": flat(w.detach()), "rs": flat(rs.detach()), "kl_terms": flat(kl_terms.detach()),
                  "loss_rs": float(loss_rs.detach()), "loss_kl": float(loss_kl.detach()),
                  "either_right": [bool(pred_a[i] == y[i] or pred_v[i] == y[i]) for i in range(n)]})
    loss.backward()
    opt.step()
    modes = ["one forward: train mode, with grad (one running update per encoder)"]
    return {"loss": loss.item(), "bn_modes": modes, "quantities": q, "margins": margins}


def make_mbsd(base, x, y):
    lr, window = 1.0, (0, 80)
    cases = []
    # At the initial head one sample's visual prediction sits 7e-4 from flipping the weight's
    # indicator; the head's weight times 1.5 keeps every decision >= 0.013 from its threshold.
    net0 = copy.deepcopy(base)
    with torch.no_grad():
        net0.head.weight.mul_(1.5)
    override = {"head.weight": flat(net0.head.weight)}
    for name, kl, detach, epoch in (("released", "released", False, 0),
                                    ("true_kl", "true", False, 0),
                                    ("detached_weights", "released", True, 0),
                                    ("outside_window", "released", False, 81)):
        settings = {"kl": kl, "weights": "detached" if detach else "with-gradient", "epoch": epoch,
                    "modulation_starts": window[0], "modulation_ends": window[1], "lr": lr,
                    "optimizer": "SGD momentum 0, weight decay 0"}
        settings["params_override_note"] = "head.weight = 1.5 x its initial value"
        cases.append(run_case(net0, name, settings, ["head"],
                              lambda net, k=kl, d=detach, e=epoch: mbsd_step(net, x, y, e, window, lr, k, d),
                              extra={"released": kl == "released" and not detach,
                                     "params_override": override}))
    released = [
        f"{BB_REPO} balancemm/trainer/MBSD_trainer.py L95-L126 ({BB_C}) forward, split logits, CE(out) + CE(u_a) + CE(u_v), softmax",
        f"{BB_REPO} balancemm/trainer/MBSD_trainer.py L129-L159 ({BB_C}) two modalities: RS on logits, per-sample w/ps/pw, F.kl_div(ps, pw), w.RS/n + w.KL/n",
        f"{BB_REPO} balancemm/trainer/MBSD_trainer.py L226-L229 ({BB_C}) outside the window CE(out); backward",
        f"{BB_REPO} configs/trainer_config.yaml L47-L50 ({BB_C}) modulation 0-80",
    ]
    return {"method": "mbsd", "released": released, "cases": cases}


# ----------------------------------------------------------------------------------------------
# AMCo (GeWu-Lab/BalanceBenchmark 4c1482f), balancemm/trainer/AMCo_trainer.py and
# balancemm/models/avclassify_model.py (BaseClassifierAMCoModel)


def amco_network(base):
    """The network with BaseClassifierAMCoModel's extra layer (avclassify_model.py L326-L329:
    linear_star = nn.Linear(n_classes, n_classes), torch's default init; here drawn after
    torch.manual_seed(1) and rounded to float32), named `method.amco` as balmix names it."""
    net = copy.deepcopy(base)
    torch.manual_seed(1)
    layer = nn.Linear(CLASSES, CLASSES)
    with torch.no_grad():
        layer.weight.copy_(f32_round(layer.weight))
        layer.bias.copy_(f32_round(layer.bias))
    net.method = nn.ModuleDict({"amco": layer})
    return net, {"method.amco.weight": flat(layer.weight), "method.amco.bias": flat(layer.bias)}


def amco_share(epoch, batches, eps=0.3):
    """AMCo_trainer.py L66-L83: l_t = 0 at the epoch's start, += current_epoch / 10 after each
    batch; pt = np.sin(np.pi/2 * (min(eps, l_t) / eps)); N = int(pt * n_classes) zeros."""
    l_t = 0
    for _ in range(batches):
        l_t += epoch / 10
    pt = np.sin(np.pi / 2 * (min(eps, l_t) / eps))
    return float(pt), int(pt * CLASSES)


def amco_step(net, x, y, epoch, window, lr, dependent, mask, sigma):
    """AMCo_trainer.py training_step L122-L159 with the model's forward (avclassify_model.py
    L330-L384): one forward in train mode; u_m = z_m W_m^T + b/2 (unimodality_calculate L365-L375),
    multiplied by the class mask when m is dependent and the step is inside the window (L376-L377;
    the released mask is expanded to 2 rows, which broadcasts over a batch of 2 only: here one
    mask row for every sample); output = linear_star(sum_m u_m') (L353); loss = CE(output),
    backward(retain_graph) (L141-L142), then CE(u_m') backward for each modality (L143-L145); the
    dependence test on the masked logits: softmax over cat([u_a', u_v'], 1), each modality's columns
    summed and divided by n, > sigma (L146-L154), for the next batch; outside the window CE(output)
    with nothing masked (L128-L131, L157-L158); the optimiser steps (L86)."""
    x = cast(net, x)
    params = model_params(net, ["head", "method"])
    opt = torch.optim.SGD([p for _, p in params], lr=lr, momentum=0.0, weight_decay=0.0)
    set_encoders(net, True)
    opt.zero_grad(set_to_none=True)
    za, zv = features(net, "audio", x["audio"]), features(net, "visual", x["visual"])
    ua, uv = split_logits(net, za, zv)
    inside = window[0] <= epoch <= window[1]
    u = {"audio": ua, "visual": uv}
    m_t = like(net, torch.tensor(mask))
    if inside:
        for m in MODS:
            if dependent[m]:
                u[m] = torch.mul(u[m], m_t)
    out = net.method["amco"](u["audio"] + u["visual"])
    loss = F.cross_entropy(out, y)
    q = {"in_window": inside, "ce_output": loss.item()}
    margins = {}
    if inside:
        loss.backward(retain_graph=True)
        for m in MODS:
            F.cross_entropy(u[m], y).backward()
        sft = F.softmax(torch.cat([u["audio"], u["visual"]], 1), dim=1)
        sft = sft.detach()
        shares = {"audio": float(sft[:, :CLASSES].sum() / len(y)),
                  "visual": float(sft[:, CLASSES:].sum() / len(y))}
        q["shares"] = shares
        q["dependent_after"] = [shares[m] > sigma for m in MODS]
        margins["min_abs_share_minus_sigma"] = min(abs(v - sigma) for v in shares.values())
    else:
        loss.backward()
    opt.step()
    modes = ["one forward: train mode, with grad (one running update per encoder)"]
    return {"loss": q["ce_output"], "bn_modes": modes, "quantities": q, "margins": margins}


def amco_test_logits(net0, x):
    """Validation (BaseTrainer's val loop, the AMCo model's forward with no mask): model.eval(),
    no grad, linear_star(u_a + u_v) = linear_star(the concat head's output)."""
    net = copy.deepcopy(net0)
    set_encoders(net, False)
    with torch.no_grad():
        xx = cast(net, x)
        za, zv = features(net, "audio", xx["audio"]), features(net, "visual", xx["visual"])
        ua, uv = split_logits(net, za, zv)
        out = net.method["amco"](ua + uv)
    top2 = out.topk(2, dim=1).values
    return {"logits": [flat(r) for r in out], "margin": float((top2[:, 0] - top2[:, 1]).min())}


def make_amco(base, x, y):
    lr, window, sigma = 1.0, (0, 80), 0.5
    net0, layer = amco_network(base)
    cases = []
    # (name, epoch, batches taken this epoch, dependent before the step, zero position or None)
    specs = [("epoch_0_none_dependent", 0, 5, {"audio": False, "visual": False}, None),
             ("epoch_0_visual_dependent_unmasked", 0, 5, {"audio": False, "visual": True}, None),
             ("epoch_1_visual_dependent_fully_masked", 1, 3, {"audio": False, "visual": True}, None),
             ("epoch_1_audio_dependent_fully_masked", 1, 4, {"audio": True, "visual": False}, None)]
    specs += [(f"epoch_1_visual_dependent_one_masked_at_{c}", 1, 1,
               {"audio": False, "visual": True}, c) for c in range(CLASSES)]
    specs += [("outside_window", 81, 3, {"audio": False, "visual": True}, None)]
    for name, epoch, batches, dependent, zero_at in specs:
        pt, zeros = amco_share(epoch, batches)
        if zero_at is None:
            mask = [1.0] * (CLASSES - zeros) + [0.0] * zeros
        else:
            assert zeros == 1, (pt, zeros)
            mask = [0.0 if c == zero_at else 1.0 for c in range(CLASSES)]
        settings = {"sigma": sigma, "eps": 0.3, "epoch": epoch, "batches_this_epoch": batches,
                    "dependent": [dependent[m] for m in MODS], "pt": pt, "masked_classes": zeros,
                    "mask": mask, "modulation_starts": window[0], "modulation_ends": window[1],
                    "lr": lr, "optimizer": "SGD momentum 0, weight decay 0"}
        if zero_at is not None:
            settings["mask_note"] = ("one of the three one-zero masks; the test takes the case "
                                     "whose mask balmix's class-mask stream draws")
        cases.append(run_case(net0, name, settings, ["head", "method"],
                              lambda net, e=epoch, d=dependent, mk=mask:
                              amco_step(net, x, y, e, window, lr, d, mk, sigma),
                              extra={"released": True, "params_override": layer}))
    cases[0]["quantities"]["test"] = amco_test_logits(net0, x)
    released = [
        f"{BB_REPO} balancemm/trainer/AMCo_trainer.py L60-L86 ({BB_C}) per epoch: nobody dependent, l_t = 0; per batch: pt, N = int(pt C) zeros shuffled, l_t += epoch/10",
        f"{BB_REPO} balancemm/trainer/AMCo_trainer.py L122-L159 ({BB_C}) training step: CE(output) and each CE(u_m') backward, dependence test for the next batch",
        f"{BB_REPO} balancemm/models/avclassify_model.py L326-L384 ({BB_C}) linear_star on the sum of the (masked) split logits",
        f"{BB_REPO} configs/trainer_config.yaml L20-L28 ({BB_C}) sigma 0.5, eps 0.3, modulation 0-80",
    ]
    return {"method": "amco", "released": released, "cases": cases}


# ----------------------------------------------------------------------------------------------
# OPM (GeWu-Lab/BalanceBenchmark 4c1482f), balancemm/trainer/OPM_trainer.py


def released_clip(a, b, c):
    """OPM_trainer.py L52-L57 as written: clip(a, b, c) returns a when b < a — called as
    clip(q, 0.0, 1.0) it returns q for any q > 0 (no upper bound) and 0 otherwise."""
    if b < a:
        return a
    if c < b:
        return c
    return b


def opm_step(net, x, y, epoch, window, lr, alpha, q_base, p_exe):
    """OPM_trainer.py training_step L138-L208 with Modality_drop.execute_drop L22-L49: one forward
    in train mode; the split logits u_m = z_m W_m^T + b/2; score_m = sum_i softmax(u_m)[i, y_i]
    (L163); ratio_m = tanh(relu(score_m / (score_other + 1e-5) - 1)) (L165-L173); q_m =
    q_base (1 + alpha ratio_m) if ratio_m > 0 else 0, then the released clip (L183-L185); the drop
    runs when np.random.rand(1) >= 1 - p_exe (L25): with p_exe = 1 always, with p_exe = 0 never
    (the cases use only these, and q in {0, 1}, so every draw is certain); mask_m ~ Bernoulli(1 - q_m)
    per sample (L34), features * mask / (1 - theta + 1e-5), theta = sum d_m q_m / sum d_m
    (L29-L41); samples with every modality dropped removed (L44-L48); output = the concat head on
    the dropped features (L190); loss = CE(output, kept labels), backward (L203); the optimiser
    steps (L115: optimizer.step(closure) calls the step once). Outside the window the released
    trainer has no loss (KeyError at L208): the case there is balmix's plain CE, not released."""
    opt, za, zv = concat_train_forward(net, x, lr)
    ua, uv = split_logits(net, za, zv)
    inside = window[0] <= epoch <= window[1]
    q = {"in_window": inside}
    margins = {}
    if not inside:
        loss = F.cross_entropy(concat_logits(net, za, zv), y)
    else:
        scores = {m: sum(F.softmax(u, dim=1)[i][y[i]] for i in range(len(y)))
                  for m, u in (("audio", ua), ("visual", uv))}
        coeffs = {}
        for m in MODS:
            other = "visual" if m == "audio" else "audio"
            r = torch.tanh(torch.relu(scores[m] / (scores[other] + 1e-5) - 1))
            coeffs[m] = released_clip(q_base * (1 + alpha * r) if r > 0 else 0, 0.0, 1.0)
            coeffs[m] = float(coeffs[m])
        margins["abs_score_ratio_minus_1"] = abs(float(scores["audio"] / (scores["visual"] + 1e-5)) - 1)
        q.update({"scores": [float(scores[m]) for m in MODS], "q": [coeffs[m] for m in MODS]})
        feats = {"audio": za, "visual": zv}
        if p_exe >= 1.0:
            assert all(c in (0.0, 1.0) for c in coeffs.values()), coeffs
            dims = {m: feats[m].shape[1] for m in MODS}
            theta = sum(dims[m] * coeffs[m] for m in MODS) / sum(dims.values())
            keep = {m: torch.full((len(y), 1), 1.0 - coeffs[m], dtype=za.dtype) for m in MODS}
            cleaned = {m: feats[m] * keep[m].expand(-1, dims[m]) / (1 - theta + 1e-5) for m in MODS}
            kept = (keep["audio"] + keep["visual"]).squeeze(1) > 0
            out = net.head(torch.cat([cleaned["audio"][kept], cleaned["visual"][kept]], 1))
            loss = F.cross_entropy(out, y[kept])
            q.update({"dropped": True, "theta": float(theta), "kept": int(kept.sum())})
        else:
            assert p_exe == 0.0
            loss = F.cross_entropy(concat_logits(net, za, zv), y)
            q["dropped"] = False
    loss.backward()
    opt.step()
    modes = ["one forward: train mode, with grad (one running update per encoder)"]
    return {"loss": loss.item(), "bn_modes": modes, "quantities": q, "margins": margins}


def make_opm(base, x, y):
    lr, window = 1.0, (0, 80)
    cases = []
    for name, alpha, q_base, p_exe, epoch, released in (
            ("dominant_dropped_q_1", 0.0, 1.0, 1.0, 0, True),
            ("never_executes_p_exe_0", 0.5, 0.4, 0.0, 0, True),
            ("outside_window", 0.5, 0.4, 0.7, 81, False)):
        settings = {"alpha": alpha, "q_base": q_base, "p_exe": p_exe, "epoch": epoch,
                    "modulation_starts": window[0], "modulation_ends": window[1], "lr": lr,
                    "optimizer": "SGD momentum 0, weight decay 0"}
        cases.append(run_case(base, name, settings, ["head"],
                              lambda net, a=alpha, qb=q_base, pe=p_exe, e=epoch:
                              opm_step(net, x, y, e, window, lr, a, qb, pe),
                              extra={"released": released}))
    released = [
        f"{BB_REPO} balancemm/trainer/OPM_trainer.py L16-L57 ({BB_C}) Modality_drop.execute_drop and clip",
        f"{BB_REPO} balancemm/trainer/OPM_trainer.py L138-L208 ({BB_C}) training step: scores, ratios, q, drop, CE on the dropped features",
        f"{BB_REPO} configs/trainer_config.yaml L82-L88 ({BB_C}) alpha 0.5, p_exe 0.7, q_base 0.4, modulation 0-80",
    ]
    return {"method": "opm", "released": released, "cases": cases}


# ----------------------------------------------------------------------------------------------
# LFM (GeWu-Lab/BalanceBenchmark 4c1482f), balancemm/trainer/LFM_trainer.py


def lfm_alignment(p, q, true_js=False):
    """LFM_trainer.py Alignment L32-L39: p, q softmaxed, m = (p + q)/2, 0.5 (F.kl_div(p.log(), m,
    'batchmean') + F.kl_div(q.log(), m, 'batchmean')) = 0.5 (KL(m||p) + KL(m||q)) / n-summed.
    `true_js` (not released): 0.5 (KL(p||m) + KL(q||m)), the Jensen-Shannon divergence."""
    p, q = F.softmax(p, dim=-1), F.softmax(q, dim=-1)
    m = 0.5 * p + 0.5 * q
    if true_js:
        return 0.5 * (F.kl_div(m.log(), p, reduction="batchmean") + F.kl_div(m.log(), q, reduction="batchmean"))
    return 0.5 * (F.kl_div(p.log(), m, reduction="batchmean") + F.kl_div(q.log(), m, reduction="batchmean"))


def lfm_losses(net, x, y, true_js):
    """One forward in the current mode: CE(out) (the concat head) and the alignment between the
    split unimodal logits (one pair: / len(combinations) = 1)."""
    za, zv = features(net, "audio", x["audio"]), features(net, "visual", x["visual"])
    ua, uv = split_logits(net, za, zv)
    return F.cross_entropy(concat_logits(net, za, zv), y), lfm_alignment(ua, uv, true_js)


def lfm_hvp(base, x, y, alpha, true_js):
    """getAlpha_Learnable L41-L68 on the given samples (the released code takes the first quarter
    of its first val batch; the Rust test hands balmix's function the same samples): one forward in
    train mode (model.train() at L149 precedes it: one running update per encoder); L_total =
    alpha0 CE + alpha1 align; theta_grads = grad(L_total, params, create_graph); cls_grads =
    grad(CE, params, create_graph); hvp = grad(theta_grads, params, grad_outputs=cls_grads) —
    PyTorch's double backward, float64. params = the concat model's (encoders, head)."""
    net = copy.deepcopy(base)
    set_encoders(net, True)
    xx = cast(net, x)
    params = [p for _, p in model_params(net, ["head"])]
    names = [n for n, _ in model_params(net, ["head"])]
    ce, align = lfm_losses(net, xx, y, true_js)
    total = alpha[0] * ce + alpha[1] * align
    theta_grads = torch.autograd.grad(total, params, create_graph=True)
    cls_grads = torch.autograd.grad(ce, params, retain_graph=True, create_graph=True)
    hvp = torch.autograd.grad(theta_grads, params, grad_outputs=cls_grads, retain_graph=True)
    return ({n: flat(h) for n, h in zip(names, hvp)}, names[0], float(hvp[0].mean()),
            {n: flat(b) for n, b in bn_buffers(net).items()},
            {n: flat(g) for n, g in zip(names, cls_grads)})


def lfm_update(alpha1, lr_alpha, epoch, alpha_grad):
    """getAlpha_Learnable L69-L78: lr_alpha halves when epoch % 20 == 0 and epoch != 0; alpha1 -=
    lr_alpha * alpha_grad, clipped to [0.05, 0.95]; alpha0 = 1 - alpha1."""
    if epoch % 20 == 0 and epoch != 0:
        lr_alpha = lr_alpha / 2
    alpha1 -= lr_alpha * alpha_grad
    alpha1 = max(0.05, min(0.95, alpha1))
    return alpha1, 1.0 - alpha1, lr_alpha


def lfm_step(net, x, y, alpha, lr, true_js):
    """training_step L332-L349: one forward in train mode; loss = 2 (alpha0 CE(out) + alpha1
    align / 1); backward; the optimiser steps (L308, optimizer.step(closure) calls it once)."""
    opt, za, zv = concat_train_forward(net, x, lr)
    ua, uv = split_logits(net, za, zv)
    ce = F.cross_entropy(concat_logits(net, za, zv), y)
    align = lfm_alignment(ua, uv, true_js)
    loss = 2 * (alpha[0] * ce + alpha[1] * align)
    loss.backward()
    opt.step()
    modes = ["one forward: train mode, with grad (one running update per encoder)"]
    return {"loss": ce.item(), "bn_modes": modes,
            "quantities": {"ce": ce.item(), "alignment": align.item(), "total": loss.item()}}


def make_lfm(base, x, y):
    lr = 1.0
    cases = []
    for name, alpha, true_js in (("released_alpha_start", (0.95, 0.05), False),
                                 ("released_alpha_half", (0.5, 0.5), False),
                                 ("true_js_alpha_half", (0.5, 0.5), True)):
        settings = {"alpha": list(alpha), "js": "true" if true_js else "released", "lr": lr,
                    "optimizer": "SGD momentum 0, weight decay 0"}
        cases.append(run_case(base, name, settings, ["head"],
                              lambda net, a=alpha, t=true_js: lfm_step(net, x, y, a, lr, t),
                              extra={"released": not true_js}))
    hvps = []
    for name, alpha, true_js in (("hvp_released_alpha_start", (0.95, 0.05), False),
                                 ("hvp_released_alpha_half", (0.5, 0.5), False),
                                 ("hvp_true_js_alpha_half", (0.5, 0.5), True)):
        h, first, mean, running, v = lfm_hvp(base, x, y, alpha, true_js)
        updates = {}
        for epoch in (0, 1, 20):
            a1, a0, lr_a = lfm_update(alpha[1], 1e-4, epoch, mean)
            updates[str(epoch)] = {"alpha1": a1, "alpha0": a0, "lr_alpha": lr_a}
        # how far from the clip bounds, so a mean off by a little cannot hide behind them
        hvps.append({"name": name, "alpha": list(alpha), "js": "true" if true_js else "released",
                     "samples": "all 6 samples of network.json", "hvp": h, "first_param": first,
                     "first_mean": mean, "running_after": running, "cls_grad": v,
                     "updates_from_lr_1e-4": updates})
    released = [
        f"{BB_REPO} balancemm/trainer/LFM_trainer.py L32-L39 ({BB_C}) Alignment: F.kl_div(p.log(), m) and F.kl_div(q.log(), m)",
        f"{BB_REPO} balancemm/trainer/LFM_trainer.py L41-L78 ({BB_C}) getAlpha_Learnable: quarter of the val batch, double backward, alpha update",
        f"{BB_REPO} balancemm/trainer/LFM_trainer.py L145-L150 ({BB_C}) val_batch = next(iter(val_loader)) (the test set in BalanceBenchmark); alpha = (0.95, 0.05); update before every epoch",
        f"{BB_REPO} balancemm/trainer/LFM_trainer.py L332-L349 ({BB_C}) training step: 2 (alpha0 CE + alpha1 align / pairs)",
        f"{BB_REPO} configs/trainer_config.yaml L110-L117 ({BB_C}) lr_alpha 1e-4",
    ]
    return {"method": "lfm", "released": released, "cases": cases, "hvp": hvps}


# ----------------------------------------------------------------------------------------------
# Diagnosing & Re-learning (GeWu-Lab/Diagnosing_Relearning_ECCV2024 59b5787; BalanceBenchmark
# ReLearning_trainer.py 4c1482f)

RL_REPO = "GeWu-Lab/Diagnosing_Relearning_ECCV2024"
RL_C = "59b5787"
# scikit-learn: BalanceBenchmark's requirements.txt pins 1.4.2, whose KMeans reads the default
# n_init="auto" as 1 for k-means++; that wheel predates NumPy 2, so this program runs the
# version in requirements.txt with n_init=1 written out (the Lloyd iterations are the same).
RL_N_INIT = 1
RL_DIAG_N_INIT = 10


def relearn_step(net, x, y, lr):
    """ours.py train_epoch L172-L213 (and BalanceBenchmark ReLearning_trainer.py training_step
    L379-L397): encoders in train mode, one forward, CE of the fused (concat) output, backward,
    the optimiser steps."""
    opt, za, zv = concat_train_forward(net, x, lr)
    loss = F.cross_entropy(concat_logits(net, za, zv), y)
    loss.backward()
    opt.step()
    modes = ["one forward: train mode, with grad (one running update per encoder)"]
    return {"loss": loss.item(), "bn_modes": modes, "quantities": {}}


def relearn_features(net, x):
    """ours.py get_feature L300-L324: model.eval(), no grad, each encoder's pooled feature."""
    set_encoders(net, False)
    with torch.no_grad():
        x = cast(net, x)
        return {m: features(net, m, x[m]) for m in MODS}


def purity(y_true, y_pred):
    """ours.py purity_score L63-L95: labels mapped onto 0..L-1, each cluster votes for its most
    frequent label (np.argmax of the histogram: ties to the smallest), accuracy of the votes."""
    y_true = np.array(y_true).copy()
    labels = np.unique(y_true)
    for k, l in enumerate(labels):
        y_true[y_true == l] = k
    bins = np.concatenate((np.unique(y_true), [y_true.max() + 1]))
    voted = np.zeros(y_true.shape)
    for c in np.unique(y_pred):
        hist, _ = np.histogram(y_true[y_pred == c], bins=bins)
        voted[y_pred == c] = np.argmax(hist)
    return float(np.mean(voted == y_true))


def cluster(feat, k, random_state=0, n_init=RL_N_INIT):
    """reinit_score L99-L135: MinMaxScaler((-1, 1)) fitted on the split, KMeans(k, random_state 0)
    with n_init seedings."""
    from sklearn import preprocessing
    from sklearn.cluster import KMeans
    scaled = preprocessing.MinMaxScaler(feature_range=(-1, 1)).fit_transform(feat)
    return KMeans(n_clusters=k, random_state=random_state, n_init=n_init).fit_predict(scaled)


def partitions(labels):
    """A partition as a sorted tuple of sorted index tuples (cluster numbering removed)."""
    groups = {}
    for i, c in enumerate(labels):
        groups.setdefault(int(c), []).append(i)
    return tuple(sorted(tuple(g) for g in groups.values()))


def best_partition(feat, k):
    """The partition of the min-max scaled rows into k non-empty groups with the least inertia
    (sum of squared distances to the group means), by trying every one; and the relative gap to
    the runner-up."""
    import itertools
    from sklearn import preprocessing
    x = preprocessing.MinMaxScaler(feature_range=(-1, 1)).fit_transform(feat)
    n = x.shape[0]
    scored = {}
    for lab in itertools.product(range(k), repeat=n):
        if len(set(lab)) != k:
            continue
        key = partitions(lab)
        if key in scored:
            continue
        lab = np.array(lab)
        scored[key] = (sum(((x[lab == c] - x[lab == c].mean(0)) ** 2).sum() for c in range(k)), lab)
    order = sorted(scored.values(), key=lambda v: v[0])
    return order[0][1], float((order[1][0] - order[0][0]) / order[0][0])


def make_relearn(base, x, y, val, val_y):
    lr = 1.0
    step_case = run_case(base, "released_step", {"lr": lr, "optimizer": "SGD momentum 0, weight decay 0"},
                         ["head"], lambda net: relearn_step(net, x, y, lr))
    # The diagnosis after some training: theta0 is network.json; theta is after two released
    # steps at lr 0.5 on the six samples (so the encoders and running statistics have moved).
    net = copy.deepcopy(base)
    for _ in range(2):
        relearn_step(net, x, y, 0.5)
    theta = {n: flat(t) for n, t in net.state_dict().items() if not n.endswith("num_batches_tracked")}
    train_f = relearn_features(net, x)
    val_f = relearn_features(net, val)
    lam = 3.0
    diag = {"purity_train": [], "purity_diagnosis": [], "weight": [], "clusters_train": [],
            "clusters_diagnosis": [], "distinct_partitions_over_50_seeds": [],
            "sklearn_random_state_0_is_least_inertia": [], "least_inertia_margin": []}
    for m in MODS:
        pt_labels = cluster(train_f[m].numpy(), CLASSES, 0, RL_DIAG_N_INIT)
        pv_labels = cluster(val_f[m].numpy(), CLASSES, 0, RL_DIAG_N_INIT)
        # Six points have several k-means local optima, and which one a seeding lands in is the
        # seeding's (NumPy's stream here, balmix's own there). So the case also states the
        # partition of least inertia, by trying all 90 partitions into three groups, and how
        # far the runner-up is; balmix is held to that one.
        best, margin = best_partition(train_f[m].numpy(), CLASSES)
        seen = {partitions(cluster(train_f[m].numpy(), CLASSES, s, RL_DIAG_N_INIT)) for s in range(50)}
        diag["distinct_partitions_over_50_seeds"].append(len(seen))
        diag["sklearn_random_state_0_is_least_inertia"].append(partitions(pt_labels) == partitions(best))
        diag["least_inertia_margin"].append(margin)
        pt_labels = best
        pt = purity(y.numpy(), pt_labels)
        pv = purity(val_y.numpy(), pv_labels)
        # reinit_score L123-L126: w = tanh(move_lambda * |gap|)
        w = float(torch.tanh(torch.tensor(lam * abs(pt - pv))))
        diag["purity_train"].append(pt)
        diag["purity_diagnosis"].append(pv)
        diag["weight"].append(w)
        diag["clusters_train"].append([int(v) for v in pt_labels])
        diag["clusters_diagnosis"].append([int(v) for v in pv_labels])
    # reinit L139-L169: every parameter of audio_net / visual_net (here encoder.<m>) becomes
    # w * theta0 + (1 - w) * theta; the head and the running buffers are left alone.
    theta0 = param_dict(base)
    after = {}
    for n, p in net.named_parameters():
        m = next((m for m in MODS if n.startswith(f"encoder.{m}.")), None)
        if m is None:
            continue
        w = diag["weight"][MODS.index(m)]
        after[n] = flat(w * theta0[n].detach() + (1 - w) * p.detach())
    diagnosis = {
        "name": "diagnosis_after_two_steps",
        "settings": {"lambda": lam, "clusters": CLASSES, "kmeans": f"sklearn KMeans(n_clusters={CLASSES}, random_state=0, n_init={RL_DIAG_N_INIT})", "kmeans_restarts": RL_DIAG_N_INIT,
                     "steps_before": "2 released steps at lr 0.5 on the 6 samples"},
        "theta": theta,
        "validation": {"inputs": {m: [flat(r) for r in val[m]] for m in MODS}, "labels": [int(v) for v in val_y]},
        "features_train": {m: [flat(r) for r in train_f[m]] for m in MODS},
        "features_diagnosis": {m: [flat(r) for r in val_f[m]] for m in MODS},
        "quantities": diag,
        "encoder_params_after": after,
    }
    return {"method": "relearn", "cases": [step_case], "diagnosis": diagnosis,
            "kmeans": make_kmeans_parity(),
            "released": [
                f"{RL_REPO} code/ours.py L63-L95 ({RL_C}) purity_score",
                f"{RL_REPO} code/ours.py L99-L135 ({RL_C}) reinit_score: MinMaxScaler(-1, 1), KMeans(n_classes, random_state=0), w = tanh(move_lambda |gap|)",
                f"{RL_REPO} code/ours.py L139-L169 ({RL_C}) reinit: w theta0 + (1 - w) theta over audio_net / visual_net",
                f"{RL_REPO} code/ours.py L300-L324 ({RL_C}) get_feature: eval mode, no grad",
                f"{RL_REPO} code/ours.py L418-L427 ({RL_C}) after epoch e > 0 with e % reinit_epoch == 0, at most reinit_num times",
                f"{BB_REPO} balancemm/trainer/ReLearning_trainer.py ({BB_C}) the same procedure, diagnosing on val_loader",
            ]}


def make_kmeans_parity():
    """scikit-learn's MinMaxScaler and Lloyd iterations from given centres, for the Rust k-means:
    four overlapping blobs of 40 points in 5 dimensions, once from four data rows and once from
    a start with two equal centres (an empty cluster on the first pass, relocated to the point
    farthest from its centre). And the released purity_score on random labels and clusters."""
    from sklearn import preprocessing
    from sklearn.cluster import KMeans
    rng = np.random.default_rng(7)
    means = rng.normal(0.0, 2.0, size=(4, 5))
    pts = np.concatenate([means[i] + rng.normal(0.0, 1.2, size=(10, 5)) for i in range(4)])
    pts = pts.astype(np.float32).astype(np.float64)
    scaled = preprocessing.MinMaxScaler(feature_range=(-1, 1)).fit_transform(pts)
    cases = []
    for name, rows in (("four_data_rows", [0, 11, 22, 33]), ("two_equal_centres", [5, 5, 17, 29])):
        init = scaled[rows]
        km = KMeans(n_clusters=4, init=init, n_init=1, max_iter=300, tol=1e-4).fit(scaled)
        cases.append({"name": name, "init_rows": rows, "labels": [int(v) for v in km.labels_],
                      "centres": [flat(torch.tensor(c)) for c in km.cluster_centers_],
                      "inertia": float(km.inertia_), "iterations": int(km.n_iter_)})
    purities = []
    for i in range(3):
        lab = rng.integers(0, 4, size=25)
        clu = rng.integers(0, 5, size=25)
        purities.append({"labels": [int(v) for v in lab], "clusters": [int(v) for v in clu],
                         "purity": purity(lab, clu)})
    import sklearn
    return {"points": [flat(torch.tensor(r)) for r in pts], "scaled": [flat(torch.tensor(r)) for r in scaled],
            "lloyd": cases, "purity": purities, "sklearn": sklearn.__version__}


# ----------------------------------------------------------------------------------------------
# UMT (BalanceBenchmark UMT_trainer.py 4c1482f)


def umt_teachers(base):
    """One unimodal teacher per modality, as BalanceBenchmark's unimodal runs leave them: the
    encoder of the same architecture (here the network's, every weight moved by N(0, 0.1) and
    every running statistic redrawn, seed 11) and its own head (3 x 8)."""
    gen = torch.Generator().manual_seed(11)
    out = {}
    for m in MODS:
        t = nn.Module()
        t.encoder = nn.ModuleDict({m: copy.deepcopy(base.encoder[m])})
        t.head = nn.Linear(8 * WIDTH, CLASSES).double()
        with torch.no_grad():
            for n, p in t.named_parameters():
                p.add_(0.1 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
                p.copy_(f32_round(p))
            for n, b in t.named_buffers():
                if n.endswith("running_mean"):
                    b.copy_(f32_round(0.2 * torch.randn(b.shape, generator=gen, dtype=b.dtype)))
                elif n.endswith("running_var"):
                    b.copy_(f32_round(0.5 + 1.5 * torch.rand(b.shape, generator=gen, dtype=b.dtype)))
        out[m] = t
    return out


def umt_step(net, x, y, teachers, scaling, teacher_train, lr):
    """UMTTrainer.training_step L129-L147: the student's forward in train mode (BaseTrainer
    sets model.train()), CE of the fused output; inside modulation_starts <= epoch <=
    modulation_ends, for each modality the teacher's forward under no_grad and
    loss += scaling * MSELoss(teacher feature, student feature) (mean over B x d); backward;
    the optimiser steps. The released teachers are built by create_model and loaded
    (L38-L53) but never put in eval mode: their batch norms run in training mode, on the batch's
    statistics (teacher_train=True); teacher_train=False is the eval-mode switch."""
    opt, za, zv = concat_train_forward(net, x, lr)
    xs = cast(net, x)
    loss = F.cross_entropy(concat_logits(net, za, zv), y)
    mse = {}
    for m, z in (("audio", za), ("visual", zv)):
        t = copy.deepcopy(teachers[m]).to(net.head.weight.dtype)
        t.train(teacher_train)
        with torch.no_grad():
            zt = features(t, m, xs[m])
        term = F.mse_loss(zt, z)
        mse[m] = term.item()
        loss = loss + scaling * term
    loss.backward()
    opt.step()
    modes = ["student: one forward, train mode, with grad (one running update per encoder)",
             f"teachers: one forward each, {'train' if teacher_train else 'eval'} mode, no grad (their own statistics; not the student's)"]
    return {"loss": loss.item(), "bn_modes": modes, "quantities": {"mse": mse}}


def make_umt(base, x, y):
    lr = 1.0
    teachers = umt_teachers(base)
    cases = []
    for name, scaling, train_mode in (("released_teachers_in_train_mode", 10.0, True),
                                      ("teachers_in_eval_mode", 10.0, False),
                                      ("scaling_1", 1.0, True)):
        settings = {"scaling": scaling, "teacher_mode": "train" if train_mode else "eval", "lr": lr,
                    "optimizer": "SGD momentum 0, weight decay 0"}
        cases.append(run_case(base, name, settings, ["head"],
                              lambda net, s=scaling, t=train_mode: umt_step(net, x, y, teachers, s, t, lr)))
    teacher_params = {m: {n: flat(v) for n, v in t.state_dict().items() if not n.endswith("num_batches_tracked")}
                      for m, t in teachers.items()}
    return {"method": "umt", "cases": cases, "teachers": teacher_params,
            "released": [
                f"{BB_REPO} balancemm/trainer/UMT_trainer.py L26-L53 ({BB_C}) teachers from the newest unimodalTrainer_<m> checkpoint, never .eval()",
                f"{BB_REPO} balancemm/trainer/UMT_trainer.py L129-L147 ({BB_C}) CE + scaling * MSE(teacher feature, student feature) per modality",
                f"{BB_REPO} configs/trainer_config.yaml L62-L66 ({BB_C}) scaling 10, modulation 0-80",
            ]}


# ----------------------------------------------------------------------------------------------
# Output


def fmt(obj, ind=0):
    """JSON with sorted keys, numbers as repr(float), lists of numbers on one line."""
    pad = " " * ind
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        items = [f'{pad} {json.dumps(k)}: {fmt(obj[k], ind + 1)}' for k in sorted(obj)]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, (list, tuple)):
        if all(isinstance(v, (int, float, bool)) or v is None for v in obj) or \
                all(isinstance(v, (list, tuple)) and all(isinstance(u, (int, float)) for u in v) for v in obj) and obj:
            return json.dumps(_num(obj), separators=(",", ":"), allow_nan=False)
        if not obj:
            return "[]"
        return "[\n" + ",\n".join(f"{pad} {fmt(v, ind + 1)}" for v in obj) + "\n" + pad + "]"
    return json.dumps(_num(obj), allow_nan=False)


def _num(v):
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        assert math.isfinite(v), v
        return float(v)
    if isinstance(v, (list, tuple)):
        return [_num(u) for u in v]
    return v



# ----------------------------------------------------------------------------------------------
# Modality valuation (GeWu-Lab/BalanceBenchmark 4c1482f): balancemm/trainer/Sample_trainer.py,
# balancemm/evaluation/modalitys.py, balancemm/datasets/__init__.py

VAL_STEPS, VAL_STEP_LR = 4, 0.2  # released steps before the valuation (predictions then vary)
VAL_LOADER_BATCH = 3  # the unshuffled training loader of the valuation pass
VAL_PART_RATIO = 0.5
VAL_DRAW_SEED = 0


def subsets(mods):
    """generate_all_combinations (modalitys.py L9-L17): every subset, by size, in list order."""
    import itertools
    return [list(c) for r in range(len(mods) + 1) for c in itertools.combinations(mods, r)]


def valuation_correctness(net, x, y, batch, cache_per_batch=True):
    """Calculate_Shapley_Sample L58-L80 under Sample_trainer.fit L83-L85 (model.eval(), no grad):
    per batch of the unshuffled training loader, v(S) = 1[prediction of the forward with the
    modalities outside S zeroed (avclassify_model.py forward L256-L275, validation_step
    L303-L321) equals the label], v(empty) = 0. Released, the cache is created once outside the
    batch loop (L64), so batches after the first reuse batch 0's vectors (cache_per_batch=False);
    balmix values each batch on its own (cache_per_batch=True). Also the margins of every
    decision (top logit minus the runner-up)."""
    set_encoders(net, False)
    x = cast(net, x)
    out = {tuple(s): [] for s in subsets(MODS)}
    margins = []
    cache = {}
    with torch.no_grad():
        for s0 in range(0, N, batch):
            xb = {m: x[m][s0:s0 + batch] for m in MODS}
            yb = y[s0:s0 + batch]
            if cache_per_batch:
                cache = {}
            for combo in subsets(MODS):
                key = tuple(sorted(combo))
                if key not in cache:
                    if not combo:
                        cache[key] = torch.zeros(len(yb), dtype=torch.bool)
                    else:
                        pad = [m for m in MODS if m not in combo]
                        logits = bb_forward(net, xb["audio"], xb["visual"], pad)["output"]
                        top = logits.topk(2, dim=1).values
                        margins.extend(float(v) for v in (top[:, 0] - top[:, 1]))
                        cache[key] = logits.argmax(dim=1) == yb
                out[tuple(combo)].extend(bool(v) for v in cache[key][:len(yb)])
    return out, margins


def valuation_shapley(correct):
    """Calculate_Shapley_Sample L81-L100: phi_m(i) = sum over S without m of
    |S|! (M - |S| - 1)! / M! (v(S + m) - v(S))."""
    n_mod = len(MODS)
    phi = {}
    for m in MODS:
        others = [o for o in MODS if o != m]
        vals = []
        for i in range(N):
            total = 0.0
            for combo in subsets(others):
                with_m = tuple(o for o in MODS if o in combo or o == m)
                weight = math.factorial(len(combo)) * math.factorial(n_mod - len(combo) - 1) / math.factorial(n_mod)
                total += weight * (float(correct[with_m][i]) - float(correct[tuple(combo)][i]))
            vals.append(total)
        phi[m] = vals
    return phi


def valuation_modality_level(phi, length, part_ratio, rs):
    """create_dataset_modality_level (datasets/__init__.py L221-L347, func 'linear'): the mean
    contribution over np.random.choice(length, num) (with replacement), gap = 1 - mean,
    difference = (2/3) sum over ordered pairs |gap_m - gap_m'| / (M - 1), resample_num =
    int(difference * length) samples drawn with replacement, each appended once per modality, the
    copy for modality m with every modality of smaller gap zeroed (L320-L326). Released, length is
    the training size cut to a multiple of 64 (L247); here the 6 samples (balmix designs the cut
    out), and the draws come from NumPy's RandomState(VAL_DRAW_SEED): the Rust test hands them
    over."""
    num = int(length * part_ratio)
    choice = rs.choice(length, num)
    part = {m: sum(phi[m][i] for i in choice) / num for m in MODS}
    gap = {m: 1.0 - part[m] for m in MODS}
    diff = sum(abs(gap[m] - gap[o]) for m in MODS for o in MODS if o != m)
    diff = diff / (len(MODS) - 1) / 3 * 2
    resample_num = int(diff * length)
    sample_choice = rs.choice(length, resample_num)
    entries = []
    for i in sample_choice:
        for m in MODS:
            entries.append([int(i), [gap[m] > gap[o] if o != m else False for o in MODS]])
    return {"part": [int(i) for i in choice], "gaps": [gap[m] for m in MODS], "difference": diff,
            "resample_num": resample_num, "drawn": [int(i) for i in sample_choice],
            "entries": entries}


def valuation_sample_level(phi, length):
    """create_dataset_sample_level (datasets/__init__.py L127-L218): per sample, per modality, 1 /
    2 / 3 copies when phi is in (0.4, 1) / (-0.1, 0.4) / below -0.1 (L157-L164), each with every
    other modality zeroed (L191-L196). Released, only the first multiple of 64 samples (L153)."""
    entries = []
    for i in range(length):
        for m in MODS:
            v = phi[m][i]
            if 0.4 < v < 1:
                copies = 1
            elif -0.1 < v < 0.4:
                copies = 2
            elif v < -0.1:
                copies = 3
            else:
                continue
            for _ in range(copies):
                entries.append([i, [o != m for o in MODS]])
    return entries


def valuation_step(net, x, y, zeroed, lr):
    """Sample_trainer.training_step L281-L294 on a batch of the rebuilt dataset: SampleDataset
    zeroes the listed modalities of an entry (datasets/__init__.py L75-L86, zeros_like after the
    dataset's transforms), then one training-mode forward, CE of the fused output, backward, the
    optimiser steps."""
    x = {m: x[m].clone() for m in MODS}
    for i, row in enumerate(zeroed):
        for j, m in enumerate(MODS):
            if row[j]:
                x[m][i] = 0.0
    return relearn_step(net, x, y, lr)


def make_valuation(base, x, y):
    lr = 1.0
    zeroed = [[False, False], [True, False], [False, False], [False, False], [False, True], [False, False]]
    step_case = run_case(base, "released_step_on_a_rebuilt_batch",
                         {"lr": lr, "optimizer": "SGD momentum 0, weight decay 0", "zeroed": zeroed},
                         ["head"], lambda net: valuation_step(net, x, y, zeroed, lr))
    net = copy.deepcopy(base)
    for _ in range(VAL_STEPS):
        relearn_step(net, x, y, VAL_STEP_LR)
    theta = {n: flat(t) for n, t in net.state_dict().items() if not n.endswith("num_batches_tracked")}
    correct, margins = valuation_correctness(net, x, y, VAL_LOADER_BATCH)
    phi = valuation_shapley(correct)
    released_cache, _ = valuation_correctness(net, x, y, VAL_LOADER_BATCH, cache_per_batch=False)
    phi_cache = valuation_shapley(released_cache)
    rs = np.random.RandomState(VAL_DRAW_SEED)
    valuation = {
        "name": "valuation_after_four_steps",
        "settings": {"steps_before": f"{VAL_STEPS} released steps at lr {VAL_STEP_LR} on the 6 samples",
                     "loader_batch": VAL_LOADER_BATCH, "part_ratio": VAL_PART_RATIO,
                     "draws": f"numpy RandomState({VAL_DRAW_SEED}).choice, handed to balmix"},
        "theta": theta,
        "correct": {"+".join(k) or "none": [bool(v) for v in vals] for k, vals in correct.items()},
        "decision_margin_min": min(margins),
        "phi": [phi[m] for m in MODS],
        "phi_with_the_released_batch_0_cache": [phi_cache[m] for m in MODS],
        "modality_level": valuation_modality_level(phi, N, VAL_PART_RATIO, rs),
        "sample_level": valuation_sample_level(phi, N),
    }
    assert min(margins) > MARGIN, margins
    # Efficiency: per sample, sum_m phi_m = v(all modalities) - v(empty).
    for i in range(N):
        assert abs(sum(phi[m][i] for m in MODS) - float(correct[tuple(MODS)][i])) < 1e-12
    return {"method": "valuation", "cases": [step_case], "valuation": valuation,
            "released": [
                f"{BB_REPO} balancemm/trainer/Sample_trainer.py L75-L102 ({BB_C}) fit: plain epochs before modulation_starts, then Calculate_Shapley_Sample in eval mode and a rebuilt loader (batch size 64)",
                f"{BB_REPO} balancemm/trainer/Sample_trainer.py L281-L294 ({BB_C}) training_step: CE of the fused output",
                f"{BB_REPO} balancemm/evaluation/modalitys.py L9-L17, L58-L103 ({BB_C}) generate_all_combinations, Calculate_Shapley_Sample (its cache created outside the batch loop at L64; model.pridiction at L79)",
                f"{BB_REPO} balancemm/models/avclassify_model.py L256-L275, L303-L321 ({BB_C}) forward zeroes padded modalities' inputs; validation_step pads the modalities outside limit_modality",
                f"{BB_REPO} balancemm/datasets/__init__.py L50-L122 ({BB_C}) SampleDataset zeroes an entry's listed modalities",
                f"{BB_REPO} balancemm/datasets/__init__.py L127-L218 ({BB_C}) create_dataset_sample_level",
                f"{BB_REPO} balancemm/datasets/__init__.py L221-L347 ({BB_C}) create_dataset_modality_level, func 'linear'",
            ]}



# ----------------------------------------------------------------------------------------------
# UME (Du et al., ICML 2023): no released code in BalanceBenchmark or elsewhere we could read;
# the paper's definition: unimodal models trained on their own, their logits averaged at test.


def make_ume(base, x, y):
    """The unimodal ensemble of the two UMT teachers (umt_teachers: the same weights as umt.json's
    `teachers`): each teacher in eval mode on its own modality, logits = its head on its pooled
    feature, the ensemble's logits their mean over the modalities, its prediction the argmax."""
    teachers = umt_teachers(base)
    xx = cast(base, x)
    logits = {}
    with torch.no_grad():
        for m in MODS:
            t = teachers[m]
            t.eval()
            logits[m] = t.head(features(t, m, xx[m]))
    mean = sum(logits[m] for m in MODS) / len(MODS)
    top = mean.topk(2, dim=1).values
    margin = float((top[:, 0] - top[:, 1]).min())
    assert margin > MARGIN, margin
    return {"method": "ume", "cases": [],
            "teachers": {m: {n: flat(t) for n, t in teachers[m].state_dict().items()
                             if not n.endswith("num_batches_tracked")} for m in MODS},
            "ensemble": {"logits": {m: [flat(r) for r in logits[m]] for m in MODS},
                         "mean_logits": [flat(r) for r in mean],
                         "predictions": [int(v) for v in mean.argmax(dim=1)],
                         "accuracy": float((mean.argmax(dim=1) == y).double().mean()),
                         "unimodal_accuracy": {m: float((logits[m].argmax(dim=1) == y).double().mean()) for m in MODS},
                         "decision_margin_min": margin},
            "released": ["Du et al., ICML 2023, 'On Uni-Modal Feature Learning in Supervised Multi-Modal Learning': UME averages the predictions of unimodal models trained on their own; no released code in the index (BalanceBenchmark has no UME)"]}


def write(name, obj):
    path = OUT / f"{name}.json"
    path.write_text(fmt(obj) + "\n")
    back = json.loads(path.read_text())
    return path, back


def network_json(net, x):
    params = {n: flat(t) for n, t in net.state_dict().items() if not n.endswith("num_batches_tracked")}
    mods = [{"name": m, "in_channels": 1, "frames": FRAMES[m], "height": HW, "width_px": HW,
             "width": WIDTH} for m in MODS]
    return {
        "source": SOURCE, "torch": torch.__version__, "n": N, "classes": CLASSES, "labels": LABELS,
        "modalities": mods,
        "inputs": {m: [flat(r) for r in x[m]] for m in MODS},
        "params": params,
        "input_recipe": {
            "seed": 0,
            "audio": "torch.randn(6, 1, 16, 16) * 1.0",
            "visual": f"torch.randn(6, 2, 16, 16) * {VISUAL_SCALE} + {VISUAL_OFFSET} * (label - 1) on columns 0-7 of both frames",
            "rounding": "float32 (numpy), then float64",
            "init": "torchvision ResNet init, then every BN weight U(0.5, 1.5), bias N(0, 0.1), running_mean N(0, 0.2), running_var U(0.5, 2.0); heads torch default Linear init",
        },
    }


def summarise(doc):
    for c in doc["cases"]:
        dmax = max(max((abs(v) for v in vals), default=0.0) for vals in c["delta"].values())
        marg = c.get("decision_margins", {})
        checked = [v for k, v in marg.items() if k not in c.get("decision_margins_exempt", {})]
        worst = min(checked) if checked else float("inf")
        extra = ", ".join(f"{k} {v:.4g}" for k, v in sorted(marg.items()))
        f32 = c.get("f32_check", {})
        print(f"  {doc['method']:>9} {c['name']:<32} loss {c['loss']:.6f}  max|delta| {dmax:.4g}  "
              f"updates {c['running_updates_per_encoder']}  margins: {extra or '-'}  "
              f"f32: loss {f32.get('loss_abs_diff', 0):.1e} delta {f32.get('delta_max_abs_diff_over_max_abs_delta', 0):.1e} "
              f"per-tensor {f32.get('per_tensor_max_abs_diff_over_tensor_max_plus_5e-4', 0):.1e}")
        assert worst > MARGIN, (doc["method"], c["name"], marg)


def main():
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    OUT.mkdir(parents=True, exist_ok=True)
    base, x, y, val, val_y = build()
    gb = build(GB_HW)
    assert all(torch.equal(a, b) for a, b in zip(base.state_dict().values(), gb[0].state_dict().values()))
    torch.set_default_dtype(torch.float64)
    path, back = write("network", network_json(base, x))
    print(f"{path.relative_to(ROOT)}: {len(back['params'])} tensors")
    q = {}
    for name, make in (("agm", lambda: make_agm(base, x, y)),
                       ("mmpareto", lambda: make_mmpareto(base, x, y)),
                       ("ogm_ge", lambda: make_ogm(base, x, y)),
                       ("mla", lambda: make_mla(base, x, y)),
                       ("pmr", lambda: make_pmr(base, x, y)),
                       ("gblending", lambda: make_gblending(*gb)),
                       ("mmcosine", lambda: make_mmcosine(base, x, y)),
                       ("cml", lambda: make_cml(base, x, y)),
                       ("mbsd", lambda: make_mbsd(base, x, y)),
                       ("amco", lambda: make_amco(base, x, y)),
                       ("opm", lambda: make_opm(base, x, y)),
                       ("lfm", lambda: make_lfm(base, x, y)),
                       ("relearn", lambda: make_relearn(base, x, y, val, val_y)),
                       ("umt", lambda: make_umt(base, x, y)),
                       ("valuation", lambda: make_valuation(base, x, y)),
                       ("ume", lambda: make_ume(base, x, y))):
        doc = make()
        doc["source"] = SOURCE
        doc["torch"] = torch.__version__
        path, back = write(name, doc)
        assert back["method"] == doc["method"] and len(back["cases"]) == len(doc["cases"])
        print(f"{path.relative_to(ROOT)}: {len(back['cases'])} cases, {path.stat().st_size:,} bytes")
        summarise(back)
        q[name] = back
    return q


if __name__ == "__main__":
    main()
