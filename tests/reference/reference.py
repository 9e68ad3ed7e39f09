#!/usr/bin/env python3
"""Independent reference values for balmix's mixing maths (docs/methods.md sections 1-3).

Everything here is computed in float64 with numpy, from the formulas of docs/methods.md sections 1-3 —
not from the Rust code. The inputs are written literally below; those that the crate receives
as f32 are rounded to f32 first (``f32``), so both sides start from the same numbers.

Run from the repository root:

    python3 -m pip install -r tests/reference/requirements.txt
    python3 tests/reference/reference.py > tests/reference/reference.json

``tests/reference_values.rs`` compares the crate against the JSON.
"""

import json
import sys

import numpy as np

# Conventions of the harness that the formulas leave open, stated once (docs/methods.md sections 1-3):
EPSILON = 1e-6  # floor of contributions; the `kl` estimator is 1 / (EPSILON + mean KL)
GE_STD_OFFSET = 1e-8  # OGM-GE adds N(0, std(g) + 1e-8), std with Bessel's correction


def f32(values):
    """Round to float32 and back to float64: what an f32 input holds."""
    return np.asarray(values, dtype=np.float32).astype(np.float64)


def softmax(z):
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def log_softmax(z):
    z = np.asarray(z, dtype=np.float64)
    m = z.max(axis=1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=1, keepdims=True))


def one_hot(labels, classes):
    y = np.zeros((len(labels), classes))
    y[np.arange(len(labels)), labels] = 1.0
    return y


# ---------------------------------------------------------------------------------------------
# B-MM step 1: contribution estimators on a clean batch.


def confidence(u, labels):
    """c = mean_i softmax(u_i)[y_i] (OGM-GE's score)."""
    return float(softmax(u)[np.arange(len(labels)), labels].mean())


def accuracy(u, labels, classes):
    """c = fraction of i with argmax u_i = y_i, plus 1/K so that it stays > 0."""
    return float((np.argmax(u, axis=1) == np.asarray(labels)).mean() + 1.0 / classes)


def kl_contribution(u, fused):
    """c = 1 / (EPSILON + mean_i KL(p_i || softmax(u_i))), p = softmax of the fused logits."""
    p = softmax(fused)
    kl = (p * (np.log(p) - log_softmax(u))).sum(axis=1).mean()
    return float(1.0 / (EPSILON + kl))


def contribution_section():
    classes = 3
    labels = [0, 1, 2, 1, 0]
    fused = f32([[2.0, 0.5, -1.0], [0.25, 1.5, 0.0], [-0.5, 0.0, 2.5], [1.0, 1.25, -0.75],
                 [0.5, -0.25, 0.125]])
    unimodal = [
        # a confident modality: right on 4 of 5 samples
        f32([[1.5, 0.25, -0.5], [0.0, 1.0, 0.5], [-1.0, 0.5, 1.75], [0.75, 0.5, 0.0],
             [0.625, 0.0, -0.25]]),
        # a weak one: right on 2 of 5, flatter logits
        f32([[0.25, 0.5, -0.125], [0.125, 0.375, 0.0], [0.5, 0.0, 0.25], [0.0, 0.25, -0.5],
             [-0.25, 0.125, 0.0]]),
        # one close to the fused prediction (small KL, large `kl` contribution)
        f32([[1.875, 0.5, -1.0], [0.25, 1.375, 0.0], [-0.5, 0.125, 2.25], [1.0, 1.125, -0.5],
             [0.5, -0.125, 0.125]]),
    ]
    return {
        "source": "reference.py: docs/methods.md sections 1-3, B-MM step 1",
        "classes": classes,
        "labels": labels,
        "fused": fused.ravel().tolist(),
        "modalities": [
            {
                "u": u.ravel().tolist(),
                "confidence": confidence(u, labels),
                "accuracy": accuracy(u, labels, classes),
                "kl": kl_contribution(u, fused),
                "mean_kl": float((softmax(fused) * (np.log(softmax(fused)) - log_softmax(u)))
                                 .sum(axis=1).mean()),
            }
            for u in unimodal
        ],
    }


# ---------------------------------------------------------------------------------------------
# B-MM steps 2-3: moving average and relative contributions.


def relative(c):
    c = np.asarray(c, dtype=np.float64)
    return c / c.mean()


def ema_section():
    beta = 0.9
    batches = [[0.6, 0.3, 0.45], [0.7, 0.2, 0.5], [0.5, 0.35, 0.4], [0.9, 0.1, 0.3],
               [0.65, 0.25, 0.55]]
    average, values, ratios = None, [], []
    for c in batches:
        c = np.asarray(c, dtype=np.float64)
        # Starts from the first batch's value: c_hat <- beta c_hat + (1 - beta) c afterwards.
        average = c.copy() if average is None else beta * average + (1.0 - beta) * c
        values.append(average.tolist())
        ratios.append(relative(average).tolist())
    return {
        "source": "reference.py: docs/methods.md sections 1-3, B-MM steps 2-3",
        "beta": beta,
        "batches": batches,
        "ema": values,
        "relative": ratios,
    }


# ---------------------------------------------------------------------------------------------
# B-MM steps 4-7: per-modality lambdas and the label lambda.


def modality_lambdas(lam_folded, r, gamma, direction):
    delta = 1.0 - lam_folded
    sign = 1.0 if direction == "dominant-more" else -1.0
    return [1.0 - min(delta * rm ** (sign * gamma), 0.5) for rm in r]


def label_weights(r, rule):
    r = np.asarray(r, dtype=np.float64)
    if rule == "inverse-contribution":
        w = 1.0 / r
    elif rule == "contribution":
        w = r.copy()
    else:
        w = np.ones_like(r)
    return (w / w.sum()).tolist()


def balance_section():
    cases = []
    for c in ([0.4, 0.8], [0.2, 0.5, 0.8], [0.9, 0.3, 0.3, 0.6]):
        r = relative(c).tolist()
        for lam in (0.5, 0.6, 0.875, 0.97, 1.0):
            lam = float(f32(lam))
            for gamma in (0.0, 0.5, 1.0, 2.0):
                for direction in ("dominant-more", "weak-more"):
                    lm = modality_lambdas(lam, r, gamma, direction)
                    for rule in ("inverse-contribution", "contribution", "mean"):
                        w = label_weights(r, rule)
                        cases.append({
                            "contribution": c,
                            "r": r,
                            "lambda_folded": lam,
                            "gamma": gamma,
                            "direction": direction,
                            "label_weight": rule,
                            "lambda_m": lm,
                            "weights": w,
                            "lambda_y": float(np.dot(w, lm)),
                        })
    return {"source": "reference.py: docs/methods.md sections 1-3, B-MM steps 3-7", "cases": cases}


# ---------------------------------------------------------------------------------------------
# OGM-GE coefficients and the GE noise scale.


def ogm_k(scores, alpha, variant):
    s = np.asarray(scores, dtype=np.float64)
    rho, k = [], []
    # The released code (two modalities) modulates audio in its `else` branch, i.e. also at an
    # exact tie: under "published" the first modality gets 1 - tanh(alpha * 1) when s_0 == s_1.
    tie = len(s) == 2 and s[0] == s[1]
    for m in range(len(s)):
        others = np.delete(s, m).mean()  # mean over k != m (the other one, for M = 2)
        rho_m = s[m] / others
        rho.append(float(rho_m))
        if variant == "published" and tie and m == 0:
            k.append(float(1.0 - np.tanh(alpha * rho_m)))
        elif rho_m > 1.0:
            x = alpha * rho_m if variant == "published" else alpha * (rho_m - 1.0)
            k.append(float(1.0 - np.tanh(x)))
        else:
            k.append(1.0)
    return rho, k


def ogm_section():
    score_sets = [
        [3.0, 2.0],  # rho 1.5 / 0.67
        [1.0, 4.0],  # the second modality dominates
        [2.5, 2.5],  # rho exactly 1: published modulates the first modality (released code), continuous neither
        [2.02, 2.0],  # just above 1: published jumps to 1 - tanh(alpha), continuous stays ~1
        [3.0, 2.0, 1.0],  # rho 2, exactly 1, 0.4
        [1.0, 2.0, 3.5],  # the third modality dominates
        [4.0, 1.0, 2.0, 2.5],
        [0.5, 6.0, 0.5, 1.0],
    ]
    cases = []
    for s in score_sets:
        for alpha in (0.8, 0.1):
            for variant in ("published", "continuous"):
                rho, k = ogm_k(s, alpha, variant)
                cases.append({"scores": s, "alpha": alpha, "variant": variant, "rho": rho,
                              "k": k})
    # Scores from logits: s_m = sum_i softmax(u_m,i)[y_i].
    labels = [0, 1, 1, 2]
    u = [f32([[2.0, 0.0, -1.0], [0.0, 1.5, 0.25], [0.5, 1.0, 0.0], [-1.0, 0.0, 2.0]]),
         f32([[0.25, 0.0, 0.0], [0.0, 0.5, 0.25], [0.5, 0.25, 0.0], [0.0, 0.5, 0.25]])]
    scores = [float(softmax(um)[np.arange(4), labels].sum()) for um in u]
    rho, k = ogm_k(scores, 0.8, "published")
    from_logits = {"labels": labels, "classes": 3, "u": [um.ravel().tolist() for um in u],
                   "scores": scores, "alpha": 0.8, "variant": "published", "rho": rho, "k": k}

    g = f32([0.12, -0.5, 0.031, 0.8, -0.27, 0.0, 0.44, -0.09, 0.25, -0.61, 0.07, 0.33])
    k_ge = 0.3
    noise = {
        "gradient": g.tolist(),
        "k": k_ge,
        # The public OGM-GE code adds N(0, grad.std() + 1e-8) with grad the ORIGINAL gradient
        # (torch's std: Bessel-corrected), after scaling it by k.
        "std_original": float(np.std(g, ddof=1)),
        "std_scaled": float(np.std(k_ge * g, ddof=1)),
        "noise_std": float(np.std(g, ddof=1) + GE_STD_OFFSET),
    }
    return {"source": "reference.py: docs/methods.md sections 1-3, OGM-GE", "cases": cases,
            "from_logits": from_logits, "ge_noise": noise}


# ---------------------------------------------------------------------------------------------
# Decomposed unimodal logits and the soft-label cross-entropy.


def decompose(zs, weight, bias, fusion):
    """u_m = z_m W_m^T + b / M: W_m the columns of modality m (concat) or all of W (sum)."""
    m_count = len(zs)
    out, col = [], 0
    for z in zs:
        d = z.shape[1]
        w_m = weight[:, col:col + d] if fusion == "concat" else weight
        if fusion == "concat":
            col += d
        out.append(z @ w_m.T + bias / m_count)
    return out


def decompose_section():
    z_a = f32([[0.5, -1.0, 0.25], [1.5, 0.0, -0.5], [-0.75, 0.5, 1.0]])
    z_v = f32([[0.25, 2.0], [-1.0, 0.5], [0.0, -0.25]])
    w_concat = f32([[0.1, -0.2, 0.3, 0.05, -0.4], [0.6, 0.15, -0.35, 0.2, 0.1],
                    [-0.25, 0.45, 0.05, -0.3, 0.5]])
    bias = f32([0.3, -0.6, 0.9])
    concat_u = decompose([z_a, z_v], w_concat, bias, "concat")
    z_s = [f32([[0.5, -1.0], [1.5, 0.0], [-0.75, 0.5]]), f32([[0.25, 2.0], [-1.0, 0.5],
                                                               [0.0, -0.25]])]
    w_sum = f32([[0.1, -0.2], [0.6, 0.15], [-0.25, 0.45]])
    sum_u = decompose(z_s, w_sum, bias, "sum")
    return {
        "source": "reference.py: docs/methods.md sections 1-3, unimodal logits u_m = z_m W_m^T + b/M",
        "cases": [
            {"fusion": "concat", "n": 3, "classes": 3, "widths": [3, 2],
             "z": [z_a.ravel().tolist(), z_v.ravel().tolist()],
             "weight": w_concat.ravel().tolist(), "bias": bias.tolist(),
             "u": [u.ravel().tolist() for u in concat_u],
             "fused": (np.hstack([z_a, z_v]) @ w_concat.T + bias).ravel().tolist()},
            {"fusion": "sum", "n": 3, "classes": 3, "widths": [2, 2],
             "z": [z.ravel().tolist() for z in z_s],
             "weight": w_sum.ravel().tolist(), "bias": bias.tolist(),
             "u": [u.ravel().tolist() for u in sum_u],
             "fused": ((z_s[0] + z_s[1]) @ w_sum.T + bias).ravel().tolist()},
        ],
    }


def soft_ce_section():
    classes = 4
    logits = f32([[1.0, -0.5, 0.25, 2.0], [0.0, 0.0, 0.0, 0.0], [-3.0, 1.5, 0.5, -0.25],
                  [0.75, 0.5, -1.25, 0.0], [4.0, -2.0, 1.0, 0.5]])
    labels = [3, 0, 1, 1, 2]
    perm = [2, 0, 1, 4, 3]
    lam = f32([0.7, 0.5, 1.0, 0.9375, 0.55])
    y = one_hot(labels, classes)
    targets = lam[:, None] * y + (1.0 - lam[:, None]) * y[perm]
    ce = -(targets * log_softmax(logits)).sum(axis=1)
    return {
        "source": "reference.py: docs/methods.md sections 1-3, soft-label CE of mixed targets",
        "classes": classes, "logits": logits.ravel().tolist(), "labels": labels,
        "perm": perm, "lambda": lam.tolist(), "targets": targets.ravel().tolist(),
        "per_row": ce.tolist(), "mean": float(ce.mean()),
    }


# ---------------------------------------------------------------------------------------------
# One full B-MM step on a tiny network, with its gradients by hand-written backprop.


def bmm_step(case):
    """Forward and backward of one B-MM step (docs/methods.md sections 1-3), concat fusion, one tanh layer
    per encoder, linear head, mean soft-label CE. Contributions and lambdas carry no gradient."""
    xs = [f32(x) for x in case["inputs"]]
    labels = np.asarray(case["labels"])
    classes, n = case["classes"], len(case["labels"])
    params = {k: f32(v).reshape(case["shapes"][k]) for k, v in case["params"].items()}
    names = case["modalities"]
    perm = np.asarray(case["perm"])
    lam = f32(case["lambda"])  # drawn (and folded) by the harness's mixup stream
    w_head, b_head = params["head.weight"], params["head.bias"]

    zs = []
    for name, x in zip(names, xs):
        w, b = params[f"encoder.{name}.layers.0.weight"], params[f"encoder.{name}.layers.0.bias"]
        zs.append(np.tanh(x @ w.T + b))
    widths = [z.shape[1] for z in zs]
    m_count = len(zs)

    # Step 1: contribution on the clean batch (first batch: the EMA equals it).
    us = decompose(zs, w_head, b_head, "concat")
    fused_clean = np.hstack(zs) @ w_head.T + b_head
    if case["contribution"] == "confidence":
        c = [confidence(u, labels) for u in us]
    elif case["contribution"] == "accuracy":
        c = [accuracy(u, labels, classes) for u in us]
    else:
        c = [kl_contribution(u, fused_clean) for u in us]
    r = relative(c)

    # Steps 4-7, per sample.
    lam_m = np.zeros((m_count, n))
    lam_y = np.zeros(n)
    w_label = label_weights(r, case["label_weight"])
    for i in range(n):
        lm = modality_lambdas(lam[i], r, case["gamma"], case["direction"])
        lam_m[:, i] = lm
        lam_y[i] = np.dot(w_label, lm)

    mixed = [lam_m[m][:, None] * zs[m] + (1.0 - lam_m[m][:, None]) * zs[m][perm]
             for m in range(m_count)]
    h = np.hstack(mixed)
    logits = h @ w_head.T + b_head
    y = one_hot(labels, classes)
    targets = lam_y[:, None] * y + (1.0 - lam_y[:, None]) * y[perm]
    loss = float(-(targets * log_softmax(logits)).sum(axis=1).mean())

    # Backward.
    d_logits = (softmax(logits) - targets) / n
    grads = {"head.weight": d_logits.T @ h, "head.bias": d_logits.sum(axis=0)}
    d_h = d_logits @ w_head
    col = 0
    for m, (name, x) in enumerate(zip(names, xs)):
        d_mixed = d_h[:, col:col + widths[m]]
        col += widths[m]
        d_z = lam_m[m][:, None] * d_mixed
        np.add.at(d_z, perm, (1.0 - lam_m[m])[:, None] * d_mixed)  # row i's partner is perm[i]
        d_pre = d_z * (1.0 - zs[m] ** 2)
        grads[f"encoder.{name}.layers.0.weight"] = d_pre.T @ x
        grads[f"encoder.{name}.layers.0.bias"] = d_pre.sum(axis=0)
    out = dict(case)
    out.update({
        "contributions": c,
        "relative": r.tolist(),
        "unimodal": [u.ravel().tolist() for u in us],
        "lambda_m": lam_m.tolist(),
        "lambda_y": lam_y.tolist(),
        "loss": loss,
        "grads": {k: np.asarray(v).ravel().tolist() for k, v in grads.items()},
    })
    return out


def bmm_step_section():
    base = dict(TINY)
    base.update({
        # The draws of the harness's mixup stream for seed 25, step 0, batch 4, alpha 0.4,
        # per-sample, folded (tests/reference_values.rs checks that it still draws them).
        "seed": 25,
        "alpha": 0.4,
        "perm": [2, 0, 3, 1],
        "lambda": [0.9007615, 0.7985555, 0.5826047, 0.7729895],
    })
    variants = [
        {"contribution": "confidence", "gamma": 1.0, "direction": "dominant-more",
         "label_weight": "inverse-contribution"},
        {"contribution": "kl", "gamma": 2.0, "direction": "weak-more",
         "label_weight": "contribution"},
        {"contribution": "accuracy", "gamma": 1.5, "direction": "dominant-more",
         "label_weight": "mean"},
    ]
    cases = []
    for v in variants:
        case = dict(base)
        case.update(v)
        cases.append(bmm_step(case))
    return {"source": "reference.py: docs/methods.md sections 1-3, one B-MM step, hand-written backprop",
            "cases": cases}



# ---------------------------------------------------------------------------------------------
# The balancing baselines' pure rules (docs/methods.md section 3), written from the formulas there.


def pmr_coefficients(scores, alpha, rule):
    a, b = scores
    if a == b:
        return [0.0, 0.0]
    lag, lead = (0, 1) if a < b else (1, 0)
    if rule == "binary":
        w = alpha
    else:  # ratio-clipped: alpha * clip(lead/lag - 1, 0, 1)
        w = alpha * min(max(scores[lead] / scores[lag] - 1.0, 0.0), 1.0)
    out = [0.0, 0.0]
    out[lag] = w
    return out


def mmpareto_weights(g_mm, g_u):
    g_mm, g_u = np.asarray(g_mm, np.float64), np.asarray(g_u, np.float64)
    mm, uu, mu = g_mm @ g_mm, g_u @ g_u, g_mm @ g_u
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = mu / np.sqrt(mm * uu)  # NaN for a zero gradient: not > 0
    if cos > 0:
        return [0.5, 0.5]
    if mu >= mm:
        k0 = 0.999
    elif mu >= uu:
        k0 = 0.001
    else:
        # the minimum-norm point of the segment between g_mm and g_u
        k0 = float(g_u @ (g_u - g_mm) / ((g_mm - g_u) @ (g_mm - g_u)))
    return [k0, 1.0 - k0]


def mmpareto_tensor(g_mm, g_u, g_sum, k, gamma):
    new = 2.0 * (k[0] * np.asarray(g_mm, np.float64) + k[1] * np.asarray(g_u, np.float64))
    g_sum = np.asarray(g_sum, np.float64)
    n_new, n_sum = np.linalg.norm(new), np.linalg.norm(g_sum)
    if n_new < 1e-12:
        return (gamma * g_sum).tolist()
    scale = n_sum / n_new if n_sum > n_new else 1.0
    return (gamma * scale * new).tolist()


def agm_kappa(s, t, alpha):
    r = [np.exp(s[1] - s[0]), np.exp(s[0] - s[1])]
    r_star = [np.exp(t[1] - t[0]), np.exp(t[0] - t[1])]
    return [float(np.exp(alpha * min(r_star[m] - r[m], 10.0))) for m in range(2)]


def gblending_weights(first, last):
    raw = []
    for (t0, v0), (t1, v1) in zip(first, last):
        d_o = (v1 - t1) - (v0 - t0)
        w = abs((v1 - v0) / d_o ** 2) if d_o != 0 else 0.0
        raw.append(w if np.isfinite(w) else 0.0)
    total = sum(raw)
    return [w / total for w in raw] if total > 0 else [1.0 / len(raw)] * len(raw)


def mla_projection(rs, a_values):
    d = len(rs[0])
    p = np.eye(d)
    for r, a in zip(rs, a_values):
        r = np.asarray(r, np.float64)
        k = p @ r
        p = p - np.outer(k, k) / (a + r @ k)
        p = p / np.linalg.norm(p)
    return p


def mla_dynamic_weights(logits, k):
    ent = []
    for u in logits:
        q = softmax(f32(u).reshape(-1, k))
        ent.append(-(q * np.log(np.where(q > 0, q, 1.0))).sum(axis=1))
    neg = -np.stack(ent, axis=1)
    e = np.exp(neg - neg.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)).tolist()


def methods_section():
    pmr = [{"scores": sc, "alpha": al, "rule": rule, "beta": pmr_coefficients(sc, al, rule)}
           for sc in ([3.0, 5.0], [5.0, 3.0], [4.0, 4.0], [4.0, 5.0], [9.0, 1.0], [2.0, 2.5])
           for al in (1.0, 0.6) for rule in ("binary", "ratio-clipped")]
    pairs = [([1.0, 2.0, 0.5], [0.5, 1.0, 2.0]),      # no conflict
             ([1.0, 0.0, 0.0], [-3.0, 0.5, 0.0]),     # conflict, interior minimum
             ([2.0, 0.0], [0.0, 1.0]),                # orthogonal: a conflict (cos = 0)
             ([1.0, 0.0], [-0.1, 0.0]),               # conflict, minimum near the small g_u
             ([0.0, 0.0], [1.0, 2.0])]                # a zero g_mm: <g_mm, g_u> >= |g_mm|^2, so 0.999
    mmpareto = []
    for g_mm, g_u in pairs:
        k = mmpareto_weights(g_mm, g_u)
        g_sum = [2.0 * a + b for a, b in zip(g_mm, g_u)]
        mmpareto.append({"g_mm": g_mm, "g_u": g_u, "g_sum": g_sum, "gamma": 1.5, "k": k,
                         "combined": mmpareto_tensor(g_mm, g_u, g_sum, k, 1.5)})
    agm = [{"s": s_, "t": t_, "alpha": al, "kappa": agm_kappa(s_, t_, al)}
           for s_, t_ in (([0.7, 1.3], [0.7, 1.3]), ([1.2, 0.4], [0.9, 0.8]), ([0.0, 3.0], [3.0, 0.0]),
                          ([2.0, 0.5], [0.0, 0.0]))
           for al in (0.0, 1.0, 1.5)]
    gb_first = [(1.0, 1.2), (1.0, 1.1), (0.9, 1.0)]
    gb_last = [(0.2, 1.4), (0.6, 0.8), (0.5, 0.7)]
    rs = [[1.0, 0.5, -0.25], [0.2, -1.0, 0.7], [3.0, 0.0, 1.0]]
    a_values = [0.1 ** (t / 3.0 + 1.0) for t in range(3)]
    logits = [[5.0, 0.0, 1.0, 1.0, 0.2, 0.1], [0.0, 0.0, 2.0, -1.0, 0.3, 0.3]]
    return {
        "source": "reference.py: docs/methods.md section 3, the baselines' rules",
        "pmr_coefficients": pmr,
        "mmpareto": mmpareto,
        "agm_kappa": agm,
        "gblending": {"first": gb_first, "last": gb_last,
                      "weights": gblending_weights(gb_first, gb_last)},
        "mla_projection": {"r": rs, "a": a_values,
                           "p": mla_projection(rs, a_values).ravel().tolist()},
        "mla_dynamic": {"classes": 2, "logits": logits,
                        "weights": mla_dynamic_weights(logits, 2)},
    }

# ---------------------------------------------------------------------------------------------
# One training step of each method with its own step (and PMR's loss term) on the tiny network
# of `bmm_step`, by hand-written backprop, written from docs/methods.md section 3.


TINY = {
    "modalities": ["audio", "visual"],
    "classes": 3,
    "labels": [0, 1, 2, 1],
    "inputs": [
        [[0.5, -1.0, 0.25], [1.0, 0.75, -0.5], [-0.25, 0.5, 1.5], [0.0, -0.75, 1.0]],
        [[1.0, 0.5], [-0.5, 1.25], [0.25, -1.0], [-1.0, 0.75]],
    ],
    "params": {
        "encoder.audio.layers.0.weight": [-0.72, 0.94, 0.75, 0.75, -0.05, -0.93],
        "encoder.audio.layers.0.bias": [0.49, 0.58],
        "encoder.visual.layers.0.weight": [0.93, -0.93, 0.63, -0.33],
        "encoder.visual.layers.0.bias": [0.33, 0.8],
        "head.weight": [-0.5, 0.99, -0.92, -0.77, -0.04, 0.44, 0.85, 0.69, 0.94, -0.12,
                        -0.19, 0.18],
        "head.bias": [0.38, 0.81, 0.18],
    },
    "shapes": {
        "encoder.audio.layers.0.weight": [2, 3],
        "encoder.audio.layers.0.bias": [2],
        "encoder.visual.layers.0.weight": [2, 2],
        "encoder.visual.layers.0.bias": [2],
        "head.weight": [3, 4],
        "head.bias": [3],
    },
}

# The same network with sum fusion (MLA's shared head): the head reads 2 features.
TINY_SUM_HEAD = {"head.weight": [-0.5, 0.99, -0.92, -0.77, 0.85, 0.69],
                 "head.bias": [0.38, 0.81, 0.18]}


class Tiny:
    """Two tanh encoders z_m = tanh(x_m W_m^T + b_m), concat or sum fusion, a linear head."""

    def __init__(self, params, shapes, fusion):
        self.p = {k: f32(v).reshape(shapes[k]) for k, v in params.items()}
        self.fusion = fusion
        self.names = TINY["modalities"]

    def encode(self, m, x):
        w = self.p[f"encoder.{self.names[m]}.layers.0.weight"]
        b = self.p[f"encoder.{self.names[m]}.layers.0.bias"]
        return np.tanh(x @ w.T + b)

    def fuse(self, zs):
        return np.hstack(zs) if self.fusion == "concat" else sum(zs)

    def forward(self, xs):
        zs = [self.encode(m, x) for m, x in enumerate(xs)]
        h = self.fuse(zs)
        return zs, h, h @ self.p["head.weight"].T + self.p["head.bias"]

    def backward(self, xs, zs, h, d_logits, bias_share=1.0):
        """Gradients of every parameter from d(loss)/d(logits) of a forward on xs (a head
        applied to h; `bias_share` scales the bias's part, 1/M for decomposed logits)."""
        w = self.p["head.weight"]
        g = {"head.weight": d_logits.T @ h, "head.bias": bias_share * d_logits.sum(axis=0)}
        d_h = d_logits @ w
        col = 0
        for m, (x, z) in enumerate(zip(xs, zs)):
            d = z.shape[1]
            d_z = d_h[:, col:col + d] if self.fusion == "concat" else d_h
            if self.fusion == "concat":
                col += d
            d_pre = d_z * (1.0 - z ** 2)
            name = self.names[m]
            g[f"encoder.{name}.layers.0.weight"] = d_pre.T @ x
            g[f"encoder.{name}.layers.0.bias"] = d_pre.sum(axis=0)
        return g

    def unimodal(self, m, z):
        """Decomposed logits u_m = z_m W_m^T + b/M and the columns W_m reads."""
        w, b = self.p["head.weight"], self.p["head.bias"]
        if self.fusion == "concat":
            col = sum(self.p[f"encoder.{n}.layers.0.bias"].shape[0] for n in self.names[:m])
            wm = w[:, col:col + z.shape[1]]
        else:
            col, wm = 0, w
        return z @ wm.T + b / len(self.names), col


def add(g, h, scale=1.0):
    out = {k: np.array(v, dtype=np.float64) for k, v in g.items()}
    for k, v in h.items():
        out[k] = out.get(k, 0.0) + scale * np.asarray(v)
    return out


def ce_grad(logits, y):
    """Mean CE of one-hot targets and its gradient w.r.t. the logits."""
    n = logits.shape[0]
    return float(-(y * log_softmax(logits)).sum(axis=1).mean()), (softmax(logits) - y) / n


def unimodal_backward(net, m, xs, zs, d_u):
    """Gradients of a loss on u_m = z_m W_m^T + b/M (only encoder m and the head)."""
    u, col = net.unimodal(m, zs[m])
    d = zs[m].shape[1]
    w = net.p["head.weight"]
    g = {k: np.zeros_like(v) for k, v in net.p.items()}
    g["head.weight"][:, col:col + d] = d_u.T @ zs[m]
    g["head.bias"] = d_u.sum(axis=0) / len(net.names)
    d_pre = (d_u @ w[:, col:col + d]) * (1.0 - zs[m] ** 2)
    name = net.names[m]
    g[f"encoder.{name}.layers.0.weight"] = d_pre.T @ xs[m]
    g[f"encoder.{name}.layers.0.bias"] = d_pre.sum(axis=0)
    return g


def tiny_inputs():
    xs = [f32(x) for x in TINY["inputs"]]
    labels = np.asarray(TINY["labels"])
    return xs, labels, one_hot(labels, TINY["classes"])


def agm_step(alpha, clip_trigger, clip_norm):
    """AGM's first step (running means T = 0): masked forwards, mono-modal logits, kappa, the
    output whose gradient per forward is c times d(CE)/d(output), then the released clipping."""
    net = Tiny(TINY["params"], TINY["shapes"], "concat")
    xs, labels, y = tiny_inputs()
    zero = [np.zeros_like(x) for x in xs]
    passes = {"total": xs, "pad_v": [xs[0], zero[1]], "pad_a": [zero[0], xs[1]]}
    out = {k: net.forward(v) for k, v in passes.items()}
    t, pv, pa = out["total"][2], out["pad_v"][2], out["pad_a"][2]
    m_a, m_v = 0.5 * (t - pa + pv), 0.5 * (t - pv + pa)

    def score(mono):
        q = softmax(mono)[np.arange(len(labels)), labels]
        return float(np.mean(-np.log(np.maximum(q, 1e-8))))

    s = [score(m_a), score(m_v)]
    kappa = agm_kappa(s, [0.0, 0.0], alpha)
    c = {"total": 0.5 * (kappa[0] + kappa[1]), "pad_v": 0.5 * (kappa[0] - kappa[1]),
         "pad_a": 0.5 * (kappa[1] - kappa[0])}
    loss, d_out = ce_grad(t, y)  # the output's value is `total`
    grads = {}
    for k, (zs, h, _) in out.items():
        grads = add(grads, net.backward(passes[k], zs, h, c[k] * d_out))
    largest = np.abs(grads["head.weight"]).max()
    norm = np.sqrt(sum((v ** 2).sum() for v in grads.values()))
    factor = min(1.0, clip_norm / (norm + 1e-6)) if largest > clip_trigger else 1.0
    grads = {k: v * factor for k, v in grads.items()}
    return {"alpha": alpha, "clip_trigger": clip_trigger, "clip_norm": clip_norm,
            "scores": s, "kappa": kappa, "clip_factor": factor, "loss": loss,
            "grads": {k: np.asarray(v).ravel().tolist() for k, v in grads.items()}}


def pmr_step(alpha, coefficient, entropy):
    """A standard step with PMR's term, epoch 0, prototypes from the whole training set (the
    first pass, sample fraction 1): fused CE + beta_m CE(q_m) - w * mean entropy of the
    dominant modality's prototype softmax, q_ik = -sqrt(|z_i - c_k|^2 + 1e-12)."""
    net = Tiny(TINY["params"], TINY["shapes"], "concat")
    xs, labels, y = tiny_inputs()
    zs, h, logits = net.forward(xs)
    loss, d_logits = ce_grad(logits, y)
    k, n = TINY["classes"], len(labels)
    qs, dists, centres = [], [], []
    for z in zs:
        c = np.stack([z[labels == cl].mean(axis=0) for cl in range(k)])
        diff = z[:, None, :] - c[None, :, :]
        dist = np.sqrt((diff ** 2).sum(axis=2) + 1e-12)
        qs.append(-dist)
        dists.append((diff, dist))
        centres.append(c)
    scores = [float(softmax(q)[np.arange(n), labels].sum()) for q in qs]
    beta = pmr_coefficients(scores, alpha, coefficient)
    dominant = 0 if scores[0] >= scores[1] else 1
    d_zs = [np.zeros_like(z) for z in zs]
    for m, q in enumerate(qs):
        d_q = np.zeros_like(q)
        if beta[m] > 0:
            l_m, g_m = ce_grad(q, y)
            loss += beta[m] * l_m
            d_q += beta[m] * g_m
        if entropy > 0 and m == dominant:
            p = softmax(q)
            logp = log_softmax(q)
            neg_h = (p * logp).sum(axis=1)  # -H_i
            loss += entropy * float(neg_h.mean())
            d_q += entropy / n * p * (logp - neg_h[:, None])
        diff, dist = dists[m]
        # dq_ik/dz_i = -(z_i - c_k) / dist_ik, prototypes constant
        d_zs[m] = -(d_q[:, :, None] * diff / dist[:, :, None]).sum(axis=1)
    grads = net.backward(xs, zs, h, d_logits)
    for m, name in enumerate(net.names):
        d_pre = d_zs[m] * (1.0 - zs[m] ** 2)
        grads[f"encoder.{name}.layers.0.weight"] += d_pre.T @ xs[m]
        grads[f"encoder.{name}.layers.0.bias"] += d_pre.sum(axis=0)
    return {"alpha": alpha, "coefficient": coefficient, "entropy": entropy,
            "prototypes": [c.ravel().tolist() for c in centres], "scores": scores,
            "beta": beta, "loss": loss,
            "grads": {k: np.asarray(v).ravel().tolist() for k, v in grads.items()}}


# Weights under which the visual encoder's two gradients conflict (found by a seeded search).
CONFLICT_PARAMS = {
    "encoder.audio.layers.0.weight": [0.21, -0.72, -0.76, 0.46, 1.0, 0.18],
    "encoder.audio.layers.0.bias": [0.49, 0.58],
    "encoder.visual.layers.0.weight": [0.45, -0.16, 0.39, 1.4],
    "encoder.visual.layers.0.bias": [0.33, 0.8],
    "head.weight": [-0.95, -1.32, 0.14, 0.86, -1.19, 1.01, -1.02, -1.31, 0.2, 0.73, -1.5, -0.55],
    "head.bias": [-1.1, 0.13, 0.83],
}


def mmpareto_step(gamma, params):
    """MMPareto: per-modality Pareto weights from the encoder gradients of L_mm and L_m, then
    each encoder tensor from the gradient of the uniform sum, heads keep that sum."""
    net = Tiny(params, TINY["shapes"], "concat")
    xs, labels, y = tiny_inputs()
    zs, h, logits = net.forward(xs)
    loss, d_logits = ce_grad(logits, y)
    g_mm = net.backward(xs, zs, h, d_logits)
    g_u = []
    for m in range(2):
        u, _ = net.unimodal(m, zs[m])
        _, d_u = ce_grad(u, y)
        g_u.append(unimodal_backward(net, m, xs, zs, d_u))
    g_sum = add(g_mm, add(g_u[0], g_u[1]))
    out = dict(g_sum)
    weights = []
    for m, name in enumerate(net.names):
        keys = [f"encoder.{name}.layers.0.weight", f"encoder.{name}.layers.0.bias"]
        flat = lambda g: np.concatenate([np.asarray(g[k]).ravel() for k in keys])
        k = mmpareto_weights(flat(g_mm), flat(g_u[m]))
        weights.append(k[0])
        for key in keys:
            shape = g_sum[key].shape
            out[key] = np.asarray(mmpareto_tensor(g_mm[key].ravel(), g_u[m][key].ravel(),
                                                  g_sum[key].ravel(), k, gamma)).reshape(shape)
    return {"gamma": gamma, "params": params, "weights": weights, "loss": loss,
            "grads": {k: np.asarray(v).ravel().tolist() for k, v in out.items()}}


def mla_step(lr, projection="off"):
    """MLA: per modality in order, CE of the shared head on that modality's features alone, then
    an SGD update of that encoder and the head (lr, no momentum). With the projection on, from
    the second sub-step on, P (identity at first) is updated with the batch-mean feature r and
    a = 0.1^(t/T + 1) (t = 0, T = 1 here: a = 0.1), k = P r, P <- P - k k^T / (a + r k),
    P <- P / |P|_F, and the head's weight gradient G becomes G P^T (replace) or G + G P^T (add)."""
    params = dict(TINY["params"])
    params.update(TINY_SUM_HEAD)
    shapes = dict(TINY["shapes"])
    shapes["head.weight"] = [3, 2]
    net = Tiny(params, shapes, "sum")
    xs, labels, y = tiny_inputs()
    losses = []
    p = None
    for m, name in enumerate(net.names):
        z = net.encode(m, xs[m])
        logits = z @ net.p["head.weight"].T + net.p["head.bias"]
        l_m, d_u = ce_grad(logits, y)
        losses.append(l_m)
        w = net.p["head.weight"]
        d_pre = (d_u @ w) * (1.0 - z ** 2)
        g = {"head.weight": d_u.T @ z, "head.bias": d_u.sum(axis=0),
             f"encoder.{name}.layers.0.weight": d_pre.T @ xs[m],
             f"encoder.{name}.layers.0.bias": d_pre.sum(axis=0)}
        if projection != "off" and m > 0:
            r = z.mean(axis=0)
            d = len(r)
            p = np.eye(d) if p is None else p
            a = 0.1 ** (0 / 1 + 1.0)
            kv = p @ r
            p = p - np.outer(kv, kv) / (a + r @ kv)
            p = p / np.linalg.norm(p)
            projected = g["head.weight"] @ p.T
            g["head.weight"] = projected if projection == "replace" else g["head.weight"] + projected
        for k, v in g.items():
            net.p[k] = net.p[k] - lr * v
    return {"lr": lr, "projection": projection, "params": params, "shapes": shapes,
            "losses": losses,
            "after": {k: v.ravel().tolist() for k, v in net.p.items()}}


def gblending_step(super_epoch, lr):
    """G-Blending at epoch 0: for each output (audio alone, visual alone — the other input
    zeroed and still encoded — and fused) a copy trains `super_epoch` epochs of full-batch SGD
    (lr, the 4 training samples are one batch) on that output's CE; mean train and validation
    CE after its first and last epoch give w_k = |dG / dO^2|, normalised. Then one step of
    sum_m w_m CE(u_m) + w_fused CE(f) with the decomposed u_m."""
    net = Tiny(TINY["params"], TINY["shapes"], "concat")
    xs, labels, y = tiny_inputs()
    vx = [f32(x) for x in GBLENDING_VAL["inputs"]]
    vy = one_hot(GBLENDING_VAL["labels"], TINY["classes"])
    outputs = [[True, False], [False, True], [True, True]]

    def masked(inputs, keep):
        return [x if k else np.zeros_like(x) for x, k in zip(inputs, keep)]

    first, last = [], []
    for keep in outputs:
        copy = Tiny(TINY["params"], TINY["shapes"], "concat")
        for e in range(super_epoch):
            xin = masked(xs, keep)
            zs, h, logits = copy.forward(xin)
            _, d = ce_grad(logits, y)
            g = copy.backward(xin, zs, h, d)
            for k, v in g.items():
                copy.p[k] = copy.p[k] - lr * v
            if e == 0 or e + 1 == super_epoch:
                t = ce_grad(copy.forward(masked(xs, keep))[2], y)[0]
                v = ce_grad(copy.forward(masked(vx, keep))[2], vy)[0]
                if e == 0:
                    first.append((t, v))
                if e + 1 == super_epoch:
                    last.append((t, v))
    weights = gblending_weights(first, last)
    zs, h, logits = net.forward(xs)
    loss, d_f = ce_grad(logits, y)
    grads = net.backward(xs, zs, h, weights[2] * d_f)
    for m in range(2):
        u, _ = net.unimodal(m, zs[m])
        _, d_u = ce_grad(u, y)
        grads = add(grads, unimodal_backward(net, m, xs, zs, weights[m] * d_u))
    return {"super_epoch": super_epoch, "lr": lr, "val": GBLENDING_VAL,
            "first": first, "last": last, "weights": weights, "fused_loss": loss,
            "grads": {k: np.asarray(v).ravel().tolist() for k, v in grads.items()}}


# G-Blending's validation samples (its weights need a validation split).
GBLENDING_VAL = {"inputs": [[[0.75, 0.25, -1.0], [-0.5, -0.5, 0.5]], [[0.5, -0.25], [1.0, 1.0]]],
                 "labels": [2, 0]}


def method_steps_section():
    return {
        "source": "reference.py: docs/methods.md section 3, one step per method on the tiny "
                  "network of bmm_step, hand-written backprop",
        "network": TINY,
        "agm": [agm_step(a, ct, cn) for a, ct, cn in
                ((1.0, 100.0, 1.0), (1.5, 100.0, 1.0), (1.0, 0.01, 0.05))],
        "pmr": [pmr_step(a, c, e) for a, c, e in
                ((1.0, "binary", 0.0), (0.6, "ratio-clipped", 0.3), (1.0, "binary", 0.5),
                 (0.6, "ratio-clipped", 0.0))],
        "mmpareto": [mmpareto_step(1.5, TINY["params"]), mmpareto_step(1.0, CONFLICT_PARAMS)],
        "mla": [mla_step(0.5), mla_step(0.5, "replace"), mla_step(0.5, "add")],
        "gblending": [gblending_step(2, 0.5), gblending_step(3, 0.5)],
    }


def main():
    out = {
        "generator": "tests/reference/reference.py",
        "numpy": np.__version__,
        "python": sys.version.split()[0],
        "epsilon": EPSILON,
        "contribution": contribution_section(),
        "ema": ema_section(),
        "balance": balance_section(),
        "ogm": ogm_section(),
        "decompose": decompose_section(),
        "soft_ce": soft_ce_section(),
        "bmm_step": bmm_step_section(),
        "methods": methods_section(),
        "method_steps": method_steps_section(),
    }
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
