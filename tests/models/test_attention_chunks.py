"""Row-chunked global attention (models/attention/chunks.py): the same values as the whole matrices, bounded memory."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from sclip_toolkit.models.attention import chunks, gaussian_window_bias
from sclip_toolkit.models.attention.chunks import attend_in_chunks, fits_whole, gram_mean, row_chunks
from sclip_toolkit.models.attention.proxy import proxy_attention_in_chunks, proxy_attention_weights
from sclip_toolkit.models.attention.scclip import nearest_sq_distances
from sclip_toolkit.bench.profiling import exact_cpu_memory_accounting, peak_memory


@given(n=st.integers(1, 500), row_bytes=st.integers(1, 10_000), max_bytes=st.integers(1, 100_000))
@settings(max_examples=200, deadline=None)
def test_row_chunks_cover_every_row_once_within_the_limit(n, row_bytes, max_bytes):
    parts = row_chunks(n, row_bytes, max_bytes)
    assert [i for s in parts for i in range(n)[s]] == list(range(n))
    assert all((s.stop - s.start) * row_bytes <= max_bytes or s.stop - s.start == 1 for s in parts)


def test_the_limit_is_read_at_each_call(monkeypatch):
    assert fits_whole(100)
    monkeypatch.setattr(chunks, 'MAX_ATTENTION_BYTES', 100 * 100 * 4 - 1)
    assert not fits_whole(100) and row_chunks(100, 400) == [slice(0, 99), slice(99, 100)]


@given(b=st.integers(1, 3), n=st.integers(1, 60), c=st.integers(1, 9), seed=st.integers(0, 1000))
@settings(max_examples=60, deadline=None)
def test_gram_mean_is_the_mean_of_the_matrix(b, n, c, seed):
    x = torch.randn(b, n, c, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    torch.testing.assert_close(gram_mean(x), (x @ x.transpose(1, 2)).mean(dim=(1, 2)), rtol=1e-10, atol=1e-10)


def test_attend_in_chunks_with_a_bias_equals_the_whole_attention():
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, 70, 8, generator=g) for _ in range(3))
    bias = torch.randn(1, 1, 70, 70, generator=g)
    whole = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=0.4)
    out = attend_in_chunks(q, k, v, 0.4, bias=lambda rows: bias[:, :, rows], max_bytes=2 * 3 * 70 * 4 * 9)
    torch.testing.assert_close(out, whole, atol=1e-6, rtol=1e-5)


def test_naclip_prior_rows_are_rows_of_the_whole_prior():
    whole = gaussian_window_bias(5, 7, 2.0, torch.float32, torch.device('cpu'))
    rows = torch.cat([gaussian_window_bias(5, 7, 2.0, torch.float32, torch.device('cpu'), slice(r, r + 4))
                      for r in range(0, 36, 4)], dim=1)
    assert torch.equal(rows, whole) and whole.shape == (1, 36, 36)


@pytest.mark.parametrize('guard, mean_over', [(True, 'image'), (False, 'image'), (True, 'batch')])
def test_proxy_attention_in_chunks_equals_the_whole_matrix(guard, mean_over):
    g = torch.Generator().manual_seed(1)
    feats = torch.randn(2, 6, 9, 11, generator=g)
    feats[1, :, :3] = 1.0  # identical cells: ties and rows whose entries sit at the threshold
    v = torch.randn(2, 99, 5, generator=g)
    whole = torch.bmm(proxy_attention_weights(feats, 1.2, 3.0, guard, mean_over=mean_over), v)
    out = proxy_attention_in_chunks(feats, v, 1.2, 3.0, guard, mean_over, max_bytes=2 * 99 * 4 * 3 * 10)
    torch.testing.assert_close(out, whole, atol=1e-6, rtol=1e-5, equal_nan=True)


def test_nearest_distances_are_the_top_of_every_row():
    x = torch.randn(2, 150, 7, generator=torch.Generator().manual_seed(2))
    x[0, 10] = x[0, 11]  # a tie
    distances = torch.linalg.vector_norm(x[:, :, None, :] - x[:, None, :, :], dim=-1) ** 2  # the whole (B, N, N)
    whole = torch.topk(distances, 5, dim=-1, largest=False)
    values, indices = nearest_sq_distances(x, 5)
    assert torch.equal(values, whole.values) and torch.equal(indices, whole.indices)


def test_stitched_dino_block_holds_no_square_matrix(tmp_path):
    """Stitched tokens arrive channel-major (``Placement.mean``); with a strided head dimension the fused kernel fell
    back to the explicit (heads, N, N) matrix (18.8 GB on a 1120x1493 input)."""
    from sclip_toolkit.models.vfm import VFMFeatures
    from sclip_toolkit.testing import write_random_vfm

    exact_cpu_memory_accounting()
    vfm = VFMFeatures(family='dino', checkpoint=str(write_random_vfm(tmp_path / 'dino.pth', 'dino')), output='block')
    grid = (60, 100)  # N = 6000: one (2, N, N) float32 matrix is 275 MiB
    g = torch.Generator().manual_seed(0)
    state = {name: torch.randn(128, grid[0] * grid[1], generator=g).t()[None] for name in ('base', 'q', 'k', 'v')}
    mem = {}
    with torch.no_grad(), peak_memory(torch.device('cpu'), mem):
        out = vfm.finish_state(state, grid)
    assert out.shape == (1, 128, *grid) and torch.isfinite(out).all()
    assert mem['peak'] < 64 << 20, mem
    few = {name: t[:, :50].contiguous() for name, t in state.items()}  # contiguity changes nothing
    torch.testing.assert_close(vfm.finish_state({n: t[:, :50] for n, t in state.items()}, (5, 10)),
                               vfm.finish_state(few, (5, 10)))
