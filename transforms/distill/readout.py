"""What a person (or a fine-tuning job) reads from a learned synthetic set: the nearest token at
each position, the nearest real texts to each target, a coreset of real texts, the loss curve.
Free of Beam."""

import io

import torch
from torch.nn import functional as F


@torch.no_grad()
def nearest_token_ids(inputs_embeds: torch.Tensor, table: torch.Tensor,
                      chunk: int = 4096) -> torch.Tensor:
    """(m, L, d) synthetic inputs, (V, d) table -> (m, L) ids of the cosine-nearest table rows."""
    m, length, d = inputs_embeds.shape
    flat = F.normalize(inputs_embeds.reshape(-1, d).float(), dim=1)  # (m L, d)
    vocabulary = F.normalize(table.float(), dim=1)  # (V, d)
    nearest = [(flat[i:i + chunk] @ vocabulary.T).argmax(1) for i in range(0, len(flat), chunk)]
    return torch.cat(nearest).reshape(m, length)


@torch.no_grad()
def nearest_real(targets_s: torch.Tensor, targets_real: torch.Tensor, k: int,
                 chunk: int = 65536) -> tuple[torch.Tensor, torch.Tensor]:
    """Cosine top-k of each synthetic target (m, t) among real teacher vectors (N, t), scanning
    the real side in chunks -> (indices (m, k), similarities (m, k)), most similar first."""
    k = min(k, len(targets_real))
    query = F.normalize(targets_s.float(), dim=1)  # (m, t)
    best_sims = torch.full((len(query), 0), -2.0)
    best_index = torch.zeros((len(query), 0), dtype=torch.long)
    for start in range(0, len(targets_real), chunk):
        block = F.normalize(targets_real[start:start + chunk].float(), dim=1)  # (c, t)
        sims = query @ block.T  # (m, c)
        index = torch.arange(start, start + len(block)).expand(len(query), -1)
        sims, index = torch.cat([best_sims, sims], 1), torch.cat([best_index, index], 1)
        best_sims, order = sims.topk(k, dim=1)
        best_index = index.gather(1, order)
    return best_index, best_sims


def coreset_indices(candidates: torch.Tensor) -> list[tuple[int, int]]:
    """(synthetic row, real index) pairs: each synthetic row takes its most similar real text
    that no earlier row took, so the coreset has distinct texts; a row whose candidates are all
    taken contributes none."""
    taken: set[int] = set()
    pairs = []
    for row, options in enumerate(candidates.tolist()):
        for option in options:
            if option not in taken:
                taken.add(option)
                pairs.append((row, option))
                break
    return pairs


def loss_curve_png(losses: list[float], title: str) -> bytes:
    """Outer loss per step (log scale) with a moving average."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7.0, 3.5))
    steps = range(1, len(losses) + 1)
    axes.plot(steps, losses, color="#9e9e9e", linewidth=0.8, label="per step")
    window = max(1, len(losses) // 50)
    if window > 1:
        smooth = torch.tensor(losses).unfold(0, window, 1).mean(1).tolist()
        axes.plot(range(window, len(losses) + 1), smooth, color="#d95f02",
                  label=f"mean of {window}")
    axes.set_yscale("log")
    axes.set_xlabel("outer step")
    axes.set_ylabel("KRR loss on real batch")
    axes.set_title(title)
    axes.legend()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    return buffer.getvalue()
