"""Schedules and samplers, checked against the exact probability-flow ODE of Gaussian data."""

import numpy as np
import pytest
import torch

from vasa_bridge.sampling import SAMPLERS, karras_sigmas, sample_ddim, sample_dpmpp_2m
from vasa_bridge.sampling.samplers import guided
from vasa_bridge.sampling.schedules import loglinear_sigmas

SIGMA_DATA = 0.7


def gaussian_denoiser(x, sigma, **_):
    """The exact D(x; σ) for data ~ N(0, SIGMA_DATA²): shrink toward 0."""
    s = sigma.reshape(-1, *([1] * (x.ndim - 1)))
    return x * SIGMA_DATA ** 2 / (s ** 2 + SIGMA_DATA ** 2)


def exact_x0(x_start, sigma_max):
    # Along the ODE x(σ) = x_T · sqrt(σ² + σd²) / sqrt(σ_max² + σd²).
    return x_start * SIGMA_DATA / np.sqrt(sigma_max ** 2 + SIGMA_DATA ** 2)


@pytest.mark.parametrize("schedule", [karras_sigmas, loglinear_sigmas])
def test_schedules_decrease_from_sigma_max_to_zero(schedule):
    s = schedule(6, sigma_min=0.01, sigma_max=5.0)
    assert s.shape == (7,)
    assert s[0] == pytest.approx(5.0) and s[-2] == pytest.approx(0.01) and s[-1] == 0.0
    assert np.all(np.diff(s) < 0)


def test_schedule_rejects_zero_steps():
    with pytest.raises(ValueError):
        karras_sigmas(0)


@pytest.mark.parametrize("sampler,order", [(sample_ddim, 1), (sample_dpmpp_2m, 2)])
def test_samplers_converge_to_the_exact_ode_solution_at_their_order(sampler, order):
    x = np.random.default_rng(0).standard_normal((64, 8)).astype(np.float32) * 10.0
    want = exact_x0(x, 10.0)
    errors = [np.abs(sampler(gaussian_denoiser, x, karras_sigmas(n, sigma_max=10.0, sigma_min=0.002)) - want).max()
              for n in (10, 40)]
    assert errors[1] < 0.15
    # 4× the steps: error shrinks ~4× for first order, ~16× for second order
    assert errors[0] / errors[1] > (3.0 if order == 1 else 10.0)


def test_dpmpp_2m_is_more_accurate_than_ddim_with_few_steps():
    x = np.random.default_rng(1).standard_normal((64, 8)).astype(np.float32) * 10.0
    sigmas = karras_sigmas(5, sigma_max=10.0)
    want = exact_x0(x, 10.0)
    err_ddim = np.abs(sample_ddim(gaussian_denoiser, x, sigmas) - want).mean()
    err_dpm = np.abs(sample_dpmpp_2m(gaussian_denoiser, x, sigmas) - want).mean()
    assert err_dpm < 0.5 * err_ddim


def test_samplers_run_on_torch_tensors_like_on_numpy():
    x = np.random.default_rng(2).standard_normal((4, 3)).astype(np.float32)
    sigmas = karras_sigmas(4, sigma_max=2.0)
    for sampler in SAMPLERS.values():
        a = sampler(gaussian_denoiser, x * 2.0, sigmas)
        b = sampler(gaussian_denoiser, torch.from_numpy(x * 2.0), sigmas).numpy()
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_samplers_share_one_signature_and_call_back_every_step():
    seen = []
    x = np.ones((2, 3), np.float32)
    for sampler in SAMPLERS.values():
        seen.clear()
        sampler(gaussian_denoiser, x, karras_sigmas(3), extra_args={}, callback=seen.append, generator=None)
        assert [s["i"] for s in seen] == [0, 1, 2]


def test_guidance_scales_the_audio_per_window_and_leaves_the_controls_at_their_strength():
    def model(x, sigma, audio_keep, controls_keep, **_):
        # audio contributes 10 when kept, controls 1 (per row)
        return np.broadcast_to((10 * audio_keep + controls_keep)[:, None], x.shape).astype(np.float32)

    x = np.zeros((3, 2), np.float32)
    keep = np.ones(3, np.float32)
    assert guided(model, 1.0) is model
    out = guided(model, np.array([1.0, 2.0, 0.0]))(x, np.ones(3, np.float32), audio_keep=keep, controls_keep=keep)
    np.testing.assert_allclose(out[:, 0], [11.0, 21.0, 1.0])
