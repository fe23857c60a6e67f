"""The votes-per-class chart linked from the `class_ranking` dataset card."""

import io

from transforms.prune.label_mapping import ClassRank

# Past this many classes the x axis only labels the kept ones.
_LABEL_ALL_UP_TO = 40


def votes_chart_png(ranking: list[ClassRank], title: str) -> bytes:
    """Bars of votes per source class in rank order; kept classes highlighted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(max(6.0, min(0.12 * len(ranking), 18.0)), 4.0))
    positions = range(len(ranking))
    axes.bar(positions, [r.votes for r in ranking],
             color=["#d95f02" if r.kept else "#9e9e9e" for r in ranking])
    labelled = [r for r in ranking if len(ranking) <= _LABEL_ALL_UP_TO or r.kept]
    axes.set_xticks([r.rank - 1 for r in labelled], [r.source_class for r in labelled],
                    rotation=90, fontsize=7)
    kept = sum(r.kept for r in ranking)
    axes.set_title(f"{title}: {kept} of {len(ranking)} source classes kept (orange)")
    axes.set_ylabel("target votes")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    return buffer.getvalue()
