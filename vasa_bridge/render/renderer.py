"""Motion frames → portrait frames: a batched geometric renderer in torch (CPU or GPU).

Per batch of B frames:
1. blendshape weights @ per-portrait basis → vertex displacements (B, V, 2); lip closure (mouthClose relative to
   jawOpen, as ARKit defines it) and head pose (3D rotation of the mesh about a head centre, distance as scale)
   are applied on the vertices;
2. a sparse barycentric matrix (built at prep) turns them into a dense forward displacement field over the face
   region; a few fixed-point steps invert it into a backward map; `grid_sample` warps the portrait;
3. the mouth opening gets a synthesized interior (cavity, teeth attached to the jaws, tongue), the eyes an
   eyeball layer (iris moved for gaze, sclera filled in) and synthesized lids where a blink covers the eye;
4. a feathered mask pastes the face back into the untouched photo, and the "synthetic" mark is drawn.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from vasa_bridge.motion import layout
from vasa_bridge.render import topology as topo
from vasa_bridge.render.marking import SyntheticMark
from vasa_bridge.render.palette import face_chroma_share, flat_tones
from vasa_bridge.render.portrait import Portrait
from vasa_bridge.render.layers import BLINK_CHANNELS, LID_FOLLOW_GAZE, FaceLayers
from vasa_bridge.render.rig import LIP_SEAM_MIX, Rig, build_rig

_JAW = layout.channel("jawOpen")
_CLOSE = layout.channel("mouthClose")
_POSE = layout.HEAD_POSE_SLICE
IOD_M = 0.063                  # adult interocular distance: converts head translation in metres to pixels
HEAD_ROTATION_LIMIT_RAD = 0.3  # a 2D warp of one photo stays plausible up to ~17 degrees
# Head distance reads as a small zoom of the head and hair, not as the face swelling: a real head moving 5 cm
# nearer at 60 cm grows ~8 %, but the motion's headZ jitters from frame to frame (the shipped model: up to 0.095
# in d0/d between frames), so a tenth of it is used, within a few per cent: at most ~1 % a frame even unsmoothed.
# With a HeadStream (one per clip or session) the scale is also smoothed and limited to HEAD_SCALE_STEP a frame.
HEAD_SCALE_GAIN = 0.1
HEAD_SCALE_LIMITS = (0.96, 1.04)
HEAD_SCALE_STEP = 0.008        # largest relative scale change between consecutive frames (goal: under 1 %)
HEAD_SCALE_SMOOTHING = 0.35    # share of the remaining difference the scale closes each frame
HEAD_SHIFT_LIMIT_IOD = 0.3
INVERSE_STEPS = 3              # fixed-point steps inverting the forward displacement field
INVERSE_STEP_SIZE = 0.6
LOWER_LID_FOLLOW_SHARE = 0.3   # the lower lid follows a third as much
LIP_SEAM_MIX_UP = LIP_SEAM_MIX
# Synthesized upper teeth, IOD units (adult incisors ~8.5 mm wide; IOD ~63 mm): the edges between teeth counted
# from the midline (their gap line and length: render/layers.py).
TOOTH_EDGES_IOD = (0.0, 0.135, 0.24, 0.335, 0.42, 0.5)


@dataclass
class HeadStream:
    """The one piece of state rendering can keep between calls: the last frame's head-distance scale, for
    smoothing it across frames. One per clip or session (`Renderer.new_stream()`)."""
    scale: float = 1.0


@dataclass(frozen=True)
class RenderOptions:
    mark_position: str = "bottom-right"   # where the visible "synthetic" mark sits (it cannot be turned off)
    # Keep a head-distance smoothing state in the renderer for calls that pass no stream: only for a renderer
    # that draws one clip (`animate`). A renderer shared between sessions (the sidecar's) must stay stateless.
    smooth_head_distance: bool = False
    inverse_steps: int = INVERSE_STEPS


class Renderer(FaceLayers):
    """`Renderer(portrait, device).render(frames (B, 60)) -> uint8 (B, H, W, 3)`. Thread-compatible: one
    renderer per thread, or serialise calls."""

    def __init__(self, portrait: Portrait, device: "str | torch.device" = "cpu",
                 options: RenderOptions = RenderOptions()) -> None:
        self.portrait = portrait
        self.options = options
        self.device = torch.device(device)
        self.rig: Rig = build_rig(portrait)
        self.mark = SyntheticMark(portrait.size, options.mark_position)
        self._own_stream = HeadStream() if options.smooth_head_distance else None
        self._upload()

    @staticmethod
    def new_stream() -> "HeadStream":
        """Smoothing state for one clip or session, passed to every `render` call of it. Without one (and
        without `RenderOptions.smooth_head_distance`), rendering is a pure function of the frames, which is what a
        renderer shared between sessions needs."""
        return HeadStream()

    # ---- setup ---------------------------------------------------------------------------------------------
    def _upload(self) -> None:
        rig, dev = self.rig, self.device
        t = lambda a, dtype=torch.float32: torch.tensor(np.asarray(a), dtype=dtype, device=dev)  # noqa
        self.image = t(self.portrait.image).permute(2, 0, 1)[None] / 255.0           # (1, 3, H, W)
        self.v0 = t(rig.vertices_px)                                                 # (V, 2)
        self.basis = t(rig.basis_px).reshape(layout.N_BLENDSHAPES, -1)               # (52, V*2)
        self.depth = t(rig.depth_iod)
        self.head_centre = t(rig.head_centre_face)
        self.seam_index = torch.as_tensor(rig.seam_index, device=dev)
        self.seam_upper = torch.as_tensor(rig.seam_upper, device=dev)
        self.seam_lower = torch.as_tensor(rig.seam_lower, device=dev)
        self.seam_mix = t(rig.seam_mix)
        self.pose_share = t(rig.pose_share)
        self.scale_share = t(rig.pose_share > 0)
        self.origin = t(rig.origin_px)
        self.rot = t(np.stack([rig.ex, rig.ey], axis=1))                             # (2, 2) face → pixels
        self.close_up = t(rig.closure_up_weights)
        self.close_low = t(rig.closure_low_weights)
        # Lip gap along the face's down axis, per inner-lip pair: in the photo, and what jawOpen = 1 adds. The lips
        # are driven to (jawOpen - mouthClose) x the latter whatever the photo shows, so an open-mouthed photo
        # closes on p/b/m like a closed one, and the gap is linear in the motion's aperture.
        ey = np.asarray(rig.ey, np.float64)
        up_i, lo_i = np.asarray(rig.lip_upper_inner), np.asarray(rig.lip_lower_inner)
        jaw_basis = rig.basis_px[_JAW]
        self.rest_gap = t((rig.vertices_px[lo_i] - rig.vertices_px[up_i]) @ ey)              # (11,) pixels
        self.jaw_gap = t((jaw_basis[lo_i] - jaw_basis[up_i]) @ ey)                          # (11,) pixels
        self.ey = t(ey)
        y0, y1, x0, x1 = rig.warp_roi
        self.roi_hw = (y1 - y0, x1 - x0)
        self.coarse_hw = rig.coarse_hw
        n_pix = self.coarse_hw[0] * self.coarse_hw[1]
        from scipy import sparse
        csr = sparse.csr_matrix((rig.bary_vals, (rig.bary_rows, rig.bary_cols)), shape=(n_pix, rig.n_vertices))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")     # "sparse CSR is beta": the one op we use (CSR @ dense) is stable
            self.bary = torch.sparse_csr_tensor(t(csr.indptr, torch.int64), t(csr.indices, torch.int64),
                                                t(csr.data), size=csr.shape)
        ys, xs = torch.meshgrid(torch.arange(y0, y1, device=dev) + 0.5, torch.arange(x0, x1, device=dev) + 0.5,
                                indexing="ij")
        self.q = torch.stack([xs, ys], dim=-1)                                       # (h, w, 2) pixel centres
        self.roi_scale = torch.tensor([2.0 / (x1 - x0), 2.0 / (y1 - y0)], device=dev)
        self.roi_offset = torch.tensor([x0, y0], device=dev, dtype=torch.float32)
        q_coarse = t(rig.coarse_points).view(*self.coarse_hw, 2)                     # (hc, wc, 2) pixels
        self.q_coarse_n = (q_coarse - self.roi_offset) * self.roi_scale - 1.0         # ROI-normalised
        self.lip_up = torch.as_tensor(rig.lip_upper_inner, device=dev)
        self.lip_low = torch.as_tensor(rig.lip_lower_inner, device=dev)
        self._lip_outer_src = torch.as_tensor(topo.LIP_LOWER_OUTER, device=dev)
        self.lid_up = [torch.as_tensor(e.upper, device=dev) for e in topo.EYES]
        self.lid_low = [torch.as_tensor(e.lower, device=dev) for e in topo.EYES]
        self.iris_centres = [t(e.iris_centre_px) for e in rig.eyes]
        # Where a closed lid's skin is fetched from: the photo just above the eye (one opening and a bit up).
        self.lid_margin_px = max(2.0, 0.03 * rig.iod_px)
        # Rest lid-to-lid distance per inner lid pair (corners excluded): lids follow gaze in these units.
        self.lid_inner_up = [torch.as_tensor(e.upper[1:-1], device=dev) for e in topo.EYES]
        self.lid_inner_low = [torch.as_tensor(e.lower[1:-1], device=dev) for e in topo.EYES]
        self.lid_rest_open = [t((rig.vertices_px[list(e.lower[1:-1])] - rig.vertices_px[list(e.upper[1:-1])]) @ ey)
                              for e in topo.EYES]
        self.feather_coarse = t(rig.feather_coarse)[None, :, :, None]                # (1, hc, wc, 1)
        # Static source masks stacked as extra channels so one grid_sample fetches colour and masks together.
        masks = np.stack([rig.src_mouth_upper_mask, rig.src_mouth_lower_mask, rig.src_eye_mask, rig.src_iris_mask])
        self.image_masks = torch.cat([self.image, t(masks)[None]], dim=1)            # (1, 7, H, W)
        self._has_lower_teeth = bool(rig.src_mouth_lower_mask.any())
        # One "opening" channel marks the photo's mouth and eye openings (they never overlap, and the mouth and
        # eye layers each read it only inside their own region): 4 channels keep the big grid_sample cheaper.
        # The eye openings are feathered by a pixel: a hard mask edge showed as a saw-tooth rim on closed lids.
        from scipy.ndimage import gaussian_filter
        eye_opening = np.clip(gaussian_filter(rig.src_opening_eye.astype(np.float32), 1.0) * 1.5, 0, 1)
        opening = t(np.clip(rig.src_opening_mouth.astype(np.float32) + eye_opening, 0, 1))
        image_warp = torch.cat([self.image, opening[None, None]], dim=1)            # (1, 4, H, W)
        self.image_warp_roi = image_warp[:, :, y0:y1, x0:x1].contiguous()           # (1, 4, h, w)
        self._background_u8 = self.mark.draw_on(self.portrait.image)
        self.teeth = t(rig.teeth_rgb / 255.0).view(1, 3, 1, 1)
        self.tooth_edges_iod = t(TOOTH_EDGES_IOD)                                      # (K,)
        self.lip = t(rig.lip_rgb / 255.0).view(1, 3, 1, 1)
        # Smoothed along the mouth: per-column samples carry the photo's teeth gaps and lip creases, which drawn
        # as sealed lips became vertical streaks.
        from scipy.ndimage import gaussian_filter1d
        edge = gaussian_filter1d(rig.lip_edge_rgb, sigma=max(1.0, 0.02 * rig.iod_px), axis=1, mode="nearest")
        self.lip_edge = t(edge / 255.0).permute(0, 2, 1)                             # (2, 3, W)
        self._cavity_tint = torch.tensor([0.5, 0.28, 0.28], device=dev).view(1, 3, 1, 1)   # dark, red, not grey
        # Synthesized colours carry only as much colour as the photo's face does: a greyscale photo or a line
        # drawing gets a grey mouth interior, a muted painting a muted one.
        self.chroma_share = face_chroma_share(self.portrait)
        # A two-tone drawing (ink on paper) gets a two-tone interior: ink cavity, paper teeth, ink gaps.
        tones = flat_tones(self.portrait)
        self.flat = None if tones is None else tuple(t(c / 255.0).view(1, 3, 1, 1) for c in tones)
        self.eye_colours = [(t(e.sclera_rgb / 255.0).view(1, 3, 1, 1), t(e.iris_rgb / 255.0).view(1, 3, 1, 1),
                             t(e.lid_rgb / 255.0).view(1, 3, 1, 1)) for e in rig.eyes]

    # ---- geometry --------------------------------------------------------------------------------------------
    def vertex_positions(self, frames: torch.Tensor, stream: "HeadStream | None" = None) -> torch.Tensor:
        """(B, 60) motion frames → (B, V, 2) target positions of all control vertices, crop pixels."""
        rig = self.rig
        b = frames.shape[0]
        w = frames[:, layout.BLENDSHAPE_SLICE].clamp(0.0, 1.0)
        disp = (w @ self.basis).view(b, -1, 2)                                      # (B, V, 2)
        pos = self.v0 + disp
        # Lids follow the gaze: looking down lowers the upper lid over the iris, looking up raises it.
        for k in range(2):
            _, pitch = self._eye_gaze(frames, k)
            # (fading out as the eye blinks, so closed lids still meet)
            open_share = (1 - w[:, BLINK_CHANNELS[k] - layout.BLENDSHAPE_SLICE.start]).view(b, 1, 1)
            follow = (-torch.sin(pitch)).view(b, 1, 1) * LID_FOLLOW_GAZE * self.lid_rest_open[k].view(1, -1, 1)
            follow = follow * open_share
            pos[:, self.lid_inner_up[k]] += follow * self.ey
            pos[:, self.lid_inner_low[k]] += LOWER_LID_FOLLOW_SHARE * follow * self.ey
        # Lips: the gap each inner-lip pair should show is what the blendshapes add to the photo's own opening,
        # less mouthClose's share of the jaw (ARKit: mouthClose = jawOpen seals the lips over an open jaw). The
        # photo's opening is the rest pose's expression, not the closed mouth: it is taken out.
        gap = pos[:, self.lip_low] - pos[:, self.lip_up]                             # (B, 11, 2) upper → lower
        along = gap @ self.ey                                                        # (B, 11) pixels
        close = w[:, _CLOSE].clamp(max=w[:, _JAW]).view(b, 1)
        target = (along - self.rest_gap - close * self.jaw_gap).clamp(min=0.0)
        closure = (1.0 - target / along.clamp(min=1e-3)).clamp(0.0, 1.0) * (along > 1e-3)
        shut = closure[..., None] * gap                                              # (B, 11, 2)
        pos = pos + LIP_SEAM_MIX_UP * (self.close_up @ shut) - (1 - LIP_SEAM_MIX_UP) * (self.close_low @ shut)
        # Head pose: rotate the face's 3D points about a centre behind the face; translate; scale for distance.
        pose = frames[:, _POSE]
        lim = HEAD_ROTATION_LIMIT_RAD
        pitch, yaw, roll = (pose[:, i].clamp(-lim, lim) for i in range(3))
        f = (pos - self.origin) @ self.rot / rig.iod_px                              # (B, V, 2) face frame
        centre = self.head_centre
        p3 = torch.cat([f, self.depth.expand(b, -1)[..., None]], dim=-1) - centre    # (B, V, 3)
        r = _rotation_matrices(pitch, yaw, roll)                                     # (B, 3, 3)
        rotated = p3 @ r.transpose(1, 2) + centre
        scale = self._head_scales(pose[:, 5], stream or self._own_stream).view(b, 1, 1)
        shift_iod = torch.stack([pose[:, 3], -pose[:, 4]], dim=-1) / IOD_M          # camera y is up, ours down
        shift_iod = shift_iod.clamp(-HEAD_SHIFT_LIMIT_IOD, HEAD_SHIFT_LIMIT_IOD).view(b, 1, 2)
        posed = rotated[..., :2] + shift_iod
        share = self.pose_share.view(1, -1, 1)
        f_final = f + share * (posed - f)
        # Distance scales the head and the hair around it alike (everything inside the fixed ring), about the
        # point between the eyes, so the face never swells inside a head of unchanged size.
        zoom = self.scale_share.view(1, -1, 1) * (scale - 1.0) + 1.0
        f_final = f_final * zoom
        out = self.origin + (f_final @ self.rot.T) * rig.iod_px                      # (B, V, 2)
        mix = self.seam_mix.view(1, -1, 1)
        out[:, self.seam_index] = (1 - mix) * out[:, self.seam_upper] + mix * out[:, self.seam_lower]
        return out

    def _head_scales(self, distance_m: torch.Tensor, stream: "HeadStream | None") -> torch.Tensor:
        """(B,) headZ in metres → (B,) head scale; with a stream, smoothed and rate-limited across frames and
        calls."""
        d0 = layout.DEFAULT_HEAD_DISTANCE_M
        distance = torch.where(distance_m > 0.05, distance_m, torch.full_like(distance_m, d0))
        scales = (1.0 + HEAD_SCALE_GAIN * (d0 / distance - 1.0)).clamp(*HEAD_SCALE_LIMITS)
        if stream is None:
            return scales
        raw = scales.cpu().tolist()
        out, s = [], stream.scale
        for r in raw:      # a scalar recurrence over the batch: B steps of float arithmetic
            step = HEAD_SCALE_SMOOTHING * (r - s)
            s = s * (1.0 + max(-HEAD_SCALE_STEP, min(HEAD_SCALE_STEP, step / s)))
            out.append(s)
        stream.scale = s
        return torch.tensor(out, dtype=torch.float32, device=distance_m.device)

    def render(self, frames: "np.ndarray | torch.Tensor", stream: "HeadStream | None" = None) -> np.ndarray:
        """(B, 60) motion frames → uint8 (B, H, W, 3) RGB, marked as synthetic."""
        roi = self.render_roi(frames, stream)                                        # (B, 3, h, w) float
        roi_u8 = roi.mul_(255.0).add_(0.5).clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        b = roi_u8.shape[0]
        out = np.empty((b,) + self._background_u8.shape, np.uint8)
        out[:] = self._background_u8                                                 # photo + mark, copied
        y0, y1, x0, x1 = self.rig.warp_roi
        out[:, y0:y1, x0:x1] = roi_u8
        self.mark.draw_over(out, (y0, y1, x0, x1))                                   # only if the ROI covers it
        return out

    @torch.no_grad()
    def render_roi(self, frames: "np.ndarray | torch.Tensor", stream: "HeadStream | None" = None) -> torch.Tensor:
        """(B, 60) → float (B, 3, h, w) in [0, 1]: the warp ROI (`rig.warp_roi`) of each frame, feathered into the
        photo; everything outside the ROI is the photo itself."""
        frames = torch.as_tensor(np.asarray(frames, np.float32) if not torch.is_tensor(frames) else frames,
                                 dtype=torch.float32, device=self.device)
        if frames.ndim == 1:
            frames = frames[None]
        if frames.ndim != 2 or frames.shape[1] != layout.N_CHANNELS:
            raise ValueError(f"motion frames must be (B, {layout.N_CHANNELS}), got {tuple(frames.shape)}")
        frames = torch.nan_to_num(frames)
        rig = self.rig
        b = frames.shape[0]
        pos = self.vertex_positions(frames, stream)                                  # (B, V, 2)
        disp = pos - self.v0                                                         # (B, V, 2)
        h, w = self.roi_hw
        hc, wc = self.coarse_hw
        # Dense forward field on the coarse grid: (Pc, V) @ (V, B*2). The field is smooth except at the lip and
        # lid seams, which the synthesized mouth and eye layers cover, so a 2x coarser grid loses nothing visible.
        field = (self.bary @ disp.permute(1, 0, 2).reshape(rig.n_vertices, b * 2))   # (Pc, B*2)
        # Work in the ROI's normalised coordinates ([-1, 1] across the warp ROI) so grid_sample needs no
        # conversions. The feathered face mask scales the motion: full inside the face, fading to none at the
        # fixed ring, so hair, background and body stay put without a second image blend.
        field = field.view(hc, wc, b, 2).permute(2, 0, 1, 3) * self.roi_scale      # (B, hc, wc, 2)
        field = field * self.feather_coarse                                          # (1, hc, wc, 1) mask
        field_img = field.permute(0, 3, 1, 2).contiguous()                          # (B, 2, hc, wc)
        # Invert q = s + field(s) for s: damped fixed-point steps s += a (q - s - field(s)). Undamped steps
        # diverge where the warp stretches skin more than 2x (lip corners, lids); a = 0.6 copes up to ~3x.
        qc = self.q_coarse_n                                                         # (hc, wc, 2)
        src = qc - field
        for _ in range(self.options.inverse_steps):
            sampled = F.grid_sample(field_img, src, mode="bilinear", padding_mode="zeros", align_corners=False)
            residual = (qc - src).sub_(sampled.permute(0, 2, 3, 1))
            src.add_(residual, alpha=INVERSE_STEP_SIZE)
        # Upsample the sampling grid itself (normalised coordinates are linear in pixels, so bilinear upsampling
        # is exact wherever the field is zero and smooth elsewhere), then sample the ROI of the photo.
        grid = F.interpolate(src.permute(0, 3, 1, 2), size=(h, w), mode="bilinear", align_corners=True)
        warped = F.grid_sample(self.image_warp_roi.expand(b, -1, -1, -1), grid.permute(0, 2, 3, 1),
                               mode="bilinear", padding_mode="border", align_corners=False)  # (B, 4, h, w)
        # Channel 3: where the warp shows the photo's mouth or eye opening (used to seal lips and lids).
        self._mouth_layer(warped, pos, frames)
        for k in range(2):
            self._eye_layer(warped, pos, frames, k)
        return warped[:, :3]

    # ---- synthesized parts -----------------------------------------------------------------------------------
    def _sample(self, points: torch.Tensor) -> torch.Tensor:
        """Portrait colour + static masks at pixel positions (B, h, w, 2) → (B, 7, h, w)."""
        grid = points * (2.0 / self.rig.size) - 1.0
        return F.grid_sample(self.image_masks.expand(points.shape[0], -1, -1, -1), grid, mode="bilinear",
                             padding_mode="border", align_corners=False)

    def _active_roi(self, static_roi: tuple[int, int, int, int], points: torch.Tensor, margin_px: float
                    ) -> tuple[torch.Tensor, slice, slice]:
        """Pixel centres (h, w, 2) of the part of `static_roi` the batch's polygons can reach, and its slices
        within the warp ROI tensors. Shrinking to the batch keeps closed mouths and open eyes cheap."""
        y0, y1, x0, x1 = _clip_roi(static_roi, self.rig.warp_roi)
        lo = points.reshape(-1, 2).min(dim=0).values.floor() - margin_px
        hi = points.reshape(-1, 2).max(dim=0).values.ceil() + margin_px
        lo_x, lo_y, hi_x, hi_y = (int(v) for v in torch.cat([lo, hi]).tolist())
        y0, y1, x0, x1 = max(y0, lo_y), min(y1, hi_y), max(x0, lo_x), min(x1, hi_x)
        y1, x1 = max(y1, y0 + 1), max(x1, x0 + 1)
        wy0, _, wx0, _ = self.rig.warp_roi
        sy, sx = slice(y0 - wy0, y1 - wy0), slice(x0 - wx0, x1 - wx0)
        return self.q[sy, sx], sy, sx


def _clip_roi(roi: tuple[int, int, int, int], outer: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    y0, y1, x0, x1 = roi
    oy0, oy1, ox0, ox1 = outer
    return max(y0, oy0), min(y1, oy1), max(x0, ox0), min(x1, ox1)


def _rotation_matrices(pitch: torch.Tensor, yaw: torch.Tensor, roll: torch.Tensor) -> torch.Tensor:
    """(B, 3, 3) R = Rz(roll) Ry(yaw) Rx(pitch) in the face frame (x image-right, y down, z away from camera):
    positive pitch nods down, positive yaw turns the nose to the subject's left, positive roll tilts the head
    top to the subject's left."""
    cp, sp, cy, sy, cr, sr = pitch.cos(), pitch.sin(), yaw.cos(), yaw.sin(), roll.cos(), roll.sin()
    one, zero = torch.ones_like(cp), torch.zeros_like(cp)
    rx = torch.stack([one, zero, zero, zero, cp, -sp, zero, sp, cp], -1).view(-1, 3, 3)
    ry = torch.stack([cy, zero, -sy, zero, one, zero, sy, zero, cy], -1).view(-1, 3, 3)
    rz = torch.stack([cr, -sr, zero, sr, cr, zero, zero, zero, one], -1).view(-1, 3, 3)
    return rz @ ry @ rx
