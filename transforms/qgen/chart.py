"""The intended-vs-predicted grade confusion matrix shown on the `scored_queries` card."""

import io


def confusion_png(counts: dict[tuple[str, str], int], grades: list[str], title: str) -> bytes:
    """Rows: the grade a query was generated for; columns: the grade the classifier predicts."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matrix = [[counts.get((intended, predicted), 0) for predicted in grades]
              for intended in grades]
    figure, axes = plt.subplots(figsize=(1.4 * len(grades) + 2.5, 1.2 * len(grades) + 1.8))
    axes.imshow(matrix, cmap="Blues")
    for row, values in enumerate(matrix):
        for column, value in enumerate(values):
            axes.text(column, row, f"{value:,}", ha="center", va="center")
    axes.set_xticks(range(len(grades)), grades)
    axes.set_yticks(range(len(grades)), grades)
    axes.set_xlabel("classifier grade")
    axes.set_ylabel("grade asked for")
    axes.set_title(title, fontsize=9)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    return buffer.getvalue()
