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
from vasa_bridge.render.rig import LIP_SEAM_MIX, Rig, build_rig

_JAW = layout.channel("jawOpen")
_CLOSE = layout.channel("mouthClose")
_TONGUE = layout.channel("tongueOut")
_BLINK = (layout.channel("eyeBlinkRight"), layout.channel("eyeBlinkLeft"))   # image-left eye, image-right eye
_SQUINT = (layout.channel("eyeSquintRight"), layout.channel("eyeSquintLeft"))
_POSE = layout.HEAD_POSE_SLICE
_GAZE = layout.GAZE_SLICE
IOD_M = 0.063                  # adult interocular distance: converts head translation in metres to pixels
EYEBALL_RADIUS_IOD = 0.19      # ~12 mm: iris travel = radius * sin(gaze angle)
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
# ARKit eyeLook* → gaze angle (radians at weight 1), per eye. Names are per the subject's eye.
EYE_LOOK_RAD = 0.5
LID_FOLLOW_GAZE = 0.7          # upper lid travel per unit sin(gaze pitch), in rest openings (lids follow gaze)
LOWER_LID_FOLLOW_SHARE = 0.3   # the lower lid follows a third as much
LIP_SEAM_MIX_UP = LIP_SEAM_MIX
# Synthesized upper teeth, IOD units (adult incisors ~8.5 mm wide, 10 mm long; IOD ~63 mm): the edges between
# teeth counted from the midline, the gap line's width and the visible tooth length under the lip.
TOOTH_EDGES_IOD = (0.0, 0.135, 0.24, 0.335, 0.42, 0.5)
TOOTH_GAP_IOD = 0.009
TOOTH_LENGTH_IOD = 0.11
# Where sealed lips meet: a crease 35 % darker over ~1 px. A softer one (20 % over 2 px) looked gentler on the
# grin but let the face mesh read painted lips as apart (lip r on the set's paintings fell from 0.86 to 0.74).
LIP_CREASE_DARKEN = 0.35
LIP_CREASE_PX = 1.2   # closing lips meet this far from the upper lip (the lower lip travels more)


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


class Renderer:
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
            open_share = (1 - w[:, _BLINK[k] - layout.BLENDSHAPE_SLICE.start]).view(b, 1, 1)
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

    def _mouth_layer(self, warped: torch.Tensor, pos: torch.Tensor, frames: torch.Tensor) -> None:
        rig = self.rig
        iod = rig.iod_px
        b = pos.shape[0]
        upper, lower = pos[:, self.lip_up], pos[:, self.lip_low]                     # (B, 11, 2) each
        src_outer = self._lip_outer_src
        q, sy, sx = self._active_roi(rig.mouth_roi, torch.cat([upper, lower, pos[:, src_outer]], 1), 3.0)
        hq, wq = q.shape[:2]
        d_up, d_low, along = _span_distances(upper, lower, q)                       # (B, 1, h, w) each
        opening = torch.minimum(d_up, d_low)
        # The cavity reaches ~1 px past the lip line: the warp's resampling band at the lip edge then falls
        # inside the dark mouth instead of smearing teeth onto the lip.
        # (Only while the mouth opens wider than in the photo: at rest the photo stays as it is, and sealed lips
        # get no dark rim.)
        gap_px = torch.linalg.norm(pos[:, 14] - pos[:, 13], dim=-1).view(b, 1, 1, 1)
        alpha = (opening + ((gap_px - rig.mouth_rest_gap_px) / 4).clamp(0, 1.5)).clamp(0, 1)
        # Sealed lips show no interior: where the local gap (d_up + d_low, per column) is under ~1.5 px, the
        # half-pixel of "opening" at the seam drew a grey line of teeth and cavity between the lips.
        alpha = alpha * ((d_up + d_low) / 1.5).clamp(0, 1)
        # Cavity: dark red-brown, darkest in the middle of the opening.
        depth = (opening / (0.12 * iod)).clamp(0, 1)
        colour = self.lip * self._cavity_tint * (1.0 - 0.6 * depth)
        # Tongue: a soft reddish shape rising from the lower lip; tongueOut brings more of it forward.
        reach = (0.05 + 0.2 * frames[:, _TONGUE].view(b, 1, 1, 1)) * iod
        tongue_w = ((1 - d_low / reach).clamp(0, 1) * (1 - along ** 4)).clamp(0, 1)
        colour = colour + (self.lip * 0.6 - colour) * (tongue_w * 0.6)
        # Teeth the photo does not show: a row of upper teeth under the upper lip (incisors in the middle, smaller
        # and darker teeth towards the corners, where the cheeks shade them), each separated by a dark gap with a
        # rounded edge; a faint lower row. Their colour is the photo's (its teeth or its eye whites).
        mid_x = (upper[:, 0, 0] + upper[:, -1, 0]).view(b, 1, 1, 1) / 2
        u = ((q[None, None, ..., 0] - mid_x) / iod).abs()                           # (B, 1, h, w) IOD
        to_gap = (u[..., None] - self.tooth_edges_iod).abs().min(dim=-1).values       # (B, 1, h, w) IOD
        gap_line = torch.exp(-(to_gap / TOOTH_GAP_IOD) ** 2)
        middle = (1 - along ** 2).clamp(0, 1)
        tooth_len = TOOTH_LENGTH_IOD * iod * (1 - 0.35 * along ** 2) * (1 - 0.3 * torch.exp(-(to_gap / 0.025) ** 2))
        band_up = (1 - (d_up - tooth_len).clamp(min=0) / 1.2).clamp(0, 1) * middle
        band_low = (1 - (d_low - 0.02 * iod).clamp(min=0) / 1.5).clamp(0, 1) * middle * 0.2
        lip_shadow = 1 - 0.25 * torch.exp(-d_up.clamp(min=0) / (0.012 * iod))
        depth_shade = (1.0 - 0.35 * along ** 2 - 0.12 * (d_up / tooth_len).clamp(0, 1)) * lip_shadow
        teeth_shade = self.teeth * depth_shade * (1 - 0.5 * gap_line)
        colour = colour + (teeth_shade - colour) * band_up
        colour = colour + (self.teeth * 0.7 - colour) * band_low
        if self.chroma_share < 1.0:
            lum = colour.mean(dim=1, keepdim=True)
            colour = lum + (colour - lum) * self.chroma_share
        if self.flat is not None:
            ink, paper = self.flat
            teeth_here = ((band_up - 0.5) * 4).clamp(0, 1) * (gap_line < 0.5)
            colour = ink + (paper - ink) * teeth_here
        # Teeth the photo does show ride with their jaw: upper with the upper lip, lower with the lower lip.
        d13 = (pos[:, 13] - self.v0[13]).view(b, 1, 1, 2)
        d14 = (pos[:, 14] - self.v0[14]).view(b, 1, 1, 2)
        up_src = self._sample(q[None] - d13)
        colour = colour + (up_src[:, :3] - colour) * up_src[:, 3:4]
        if self._has_lower_teeth:
            low_src = self._sample(q[None] - d14)
            colour = colour + (low_src[:, :3] - colour) * low_src[:, 4:5]
        region = warped[:, :, sy, sx]
        rgb = region[:, :3]
        # Lips sealed over what was an opening in the photo: lip colour where the warp fetched teeth.
        sealing = ((rig.mouth_rest_gap_px - gap_px) / 2.0).clamp(0, 1)               # lips closer than in the photo
        seal = (region[:, 3:4] * (1 - alpha)).clamp(0, 1)
        # Grown by a pixel and feathered: the warp's bilinear edge of the opening mask left a partly covered rim
        # where the photo's teeth and inner-lip shadow showed through as a thin seam.
        seal = F.avg_pool2d(F.max_pool2d(seal, 3, 1, 1), 3, 1, 1, count_include_pad=False) * sealing
        # Sealed lips: each lip's own inner-edge colour for that column (followed with the mouth's motion), and
        # a soft dark line where they meet.
        cols = (q[0, :, 0] - d13[:, 0, 0, :1]).long().clamp(0, rig.size - 1)           # (B, w)
        edge_up = self.lip_edge[0][:, cols].permute(1, 0, 2)[:, :, None]               # (B, 3, 1, w)
        edge_low = self.lip_edge[1][:, cols].permute(1, 0, 2)[:, :, None]
        seal_colour = torch.where(d_up > d_low, edge_low, edge_up)
        seal_colour = seal_colour * (1 - LIP_CREASE_DARKEN * torch.exp(-(opening / LIP_CREASE_PX) ** 2))
        rgb = rgb + (seal_colour - rgb) * seal
        rgb = rgb + (colour - rgb) * alpha
        warped[:, :3, sy, sx] = rgb

    def _eye_layer(self, warped: torch.Tensor, pos: torch.Tensor, frames: torch.Tensor, k: int) -> None:
        rig = self.rig
        eye = rig.eyes[k]
        b = pos.shape[0]
        upper, lower = pos[:, self.lid_up[k]], pos[:, self.lid_low[k]]              # (B, 9, 2), corners shared
        # The ROI holds the photo's lids too: the lid colour is taken just outside them (`_lid_skin`).
        src_lids = torch.cat([self.v0[self.lid_up[k]], self.v0[self.lid_low[k]]])[None].expand(b, -1, -1)
        q, sy, sx = self._active_roi(eye.roi, torch.cat([upper, lower, src_lids], 1), 0.1 * rig.iod_px)
        d_up, d_low, _ = _span_distances(upper, lower, q)
        alpha = (torch.minimum(d_up, d_low) + 0.3).clamp(0, 1)                      # (B, 1, h, w)
        # The eyeball moves with the eye corners (head pose, squint) plus the gaze shift; blinks leave it.
        corners = self.lid_up[k][[0, -1]]
        d_eye = (pos[:, corners] - self.v0[corners]).mean(dim=1).view(b, 1, 1, 2)
        yaw, pitch = self._eye_gaze(frames, k)
        shift_face = torch.stack([torch.sin(yaw), -torch.sin(pitch)], dim=-1) * EYEBALL_RADIUS_IOD * rig.iod_px
        shift = (shift_face @ self.rot.T).view(b, 1, 1, 2)
        q0 = q[None] - d_eye                                                         # eye-local source position
        sclera_c, iris_c, lid_c = self.eye_colours[k]
        at_q0 = self._sample(q0)
        eye_m, disc_m = at_q0[:, 5:6], at_q0[:, 6:7]
        # Sclera: the photo's white of the eye where it shows one. Where the iris was, the white of the same row
        # just beyond the iris rim, mirrored across the rim (keeps the photo's shading); the sampled sclera
        # colour where even that is not visible.
        centre = self.iris_centres[k]
        dx = q0[..., 0] - centre[0]
        x_ref = centre[0] + torch.sign(dx) * (2 * eye.iris_radius_px + 1 - dx.abs()).clamp(min=0)
        at_ref = self._sample(torch.stack([x_ref, q0[..., 1]], dim=-1))
        ref_ok = at_ref[:, 5:6] * (1 - at_ref[:, 6:7])
        fill = sclera_c + (at_ref[:, :3] - sclera_c) * ref_ok
        sclera = fill + (at_q0[:, :3] - fill) * (eye_m * (1 - disc_m))
        # Iris: the photo's disc moved by the gaze shift; the part the photo's lids hid gets the iris colour.
        at_qi = self._sample(q0 - shift)
        in_iris = at_qi[:, 6:7]
        iris = iris_c + (at_qi[:, :3] - iris_c) * at_qi[:, 5:6]
        eyeball = sclera + (iris - sclera) * in_iris
        region = warped[:, :, sy, sx]
        rgb = region[:, :3]
        # Lids: where the warp fetched the photo's open eye but the lids now cover it, paint lid skin, with
        # lashes on the upper lid margin while the eye closes (the photo's own lashes are under the new lid).
        lowered = (-torch.sin(pitch) * LID_FOLLOW_GAZE).view(b, 1, 1, 1)                # lids following gaze down
        closing = torch.maximum(torch.maximum(frames[:, _BLINK[k]], frames[:, _SQUINT[k]]).view(b, 1, 1, 1),
                                lowered).clamp(0, 1)
        covered = (region[:, 3:4] * (1 - alpha)).clamp(0, 1) * (closing * 5).clamp(0, 1)
        # Lid skin: per column, the colour of the skin just outside the lids (above the higher of the moving and
        # the photo's upper lid, below the lower ones), smoothed along the eye: a closed lid then takes the
        # photo's own lid colour and shading instead of a flat patch.
        lid = self._lid_skin(rgb, d_up, d_low, q, pos, k)
        rgb = rgb + (lid - rgb) * covered
        rgb = rgb + (eyeball - rgb) * alpha
        blink = frames[:, _BLINK[k]].clamp(0, 1).view(b, 1, 1, 1)
        # A thin lash line where the lids meet, darker the more the eye is closed.
        lash = torch.exp(-(d_up / (0.025 * rig.iod_px)) ** 2) * (blink * 2.0 - 0.6).clamp(0, 1) * 0.85
        rgb = rgb + (lid_c * 0.3 - rgb) * (lash * (covered + alpha).clamp(0, 1))
        warped[:, :3, sy, sx] = rgb

    def _lid_skin(self, rgb: torch.Tensor, d_up: torch.Tensor, d_low: torch.Tensor, q: torch.Tensor,
                  pos: torch.Tensor, k: int) -> torch.Tensor:
        """(B, 3, h, w) lid colour for an eye region: above the eye's middle, the skin just above the upper lid;
        below, the skin just under the lower lid (taken from the warped frame `rgb`, per column)."""
        b, _, h, w = rgb.shape
        row0 = q[0, 0, 1]
        d_up_src, d_low_src, _ = _span_distances(self.v0[self.lid_up[k]][None], self.v0[self.lid_low[k]][None], q)
        y_up = torch.minimum(row0 - d_up[:, 0, 0], row0 - d_up_src[:, 0, 0])           # (B, w) the higher lid
        y_low = torch.maximum(row0 + d_low[:, 0, 0], row0 + d_low_src[:, 0, 0])
        i_up = (y_up - self.lid_margin_px - row0).round().long().clamp(0, h - 1)
        i_low = (y_low + self.lid_margin_px - row0).round().long().clamp(0, h - 1)
        above = rgb.gather(2, i_up.view(b, 1, 1, w).expand(b, 3, 1, w))                  # (B, 3, 1, w)
        below = rgb.gather(2, i_low.view(b, 1, 1, w).expand(b, 3, 1, w))
        smooth = lambda c: F.avg_pool1d(c[:, :, 0], 5, 1, 2, count_include_pad=False)[:, :, None]  # noqa: E731
        above, below = smooth(above), smooth(below)
        mid = (d_up - d_low)                                                             # < 0 above the middle
        return above + (below - above) * (mid / (0.02 * self.rig.iod_px)).clamp(-1, 1).add(1).div(2)

    def _eye_gaze(self, frames: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Gaze of one eye in radians (yaw to the subject's left, pitch up): shared gaze + that eye's eyeLook*."""
        side = "Right" if k == 0 else "Left"       # image-left eye is the subject's right eye
        c = lambda n: frames[:, layout.channel(n + side)].clamp(0, 1)  # noqa: E731
        # For the subject's right eye, "in" is towards the nose = the subject's left; for the left eye, "out" is.
        towards_left = c("eyeLookIn") - c("eyeLookOut") if side == "Right" else c("eyeLookOut") - c("eyeLookIn")
        yaw = frames[:, _GAZE][:, 0] + EYE_LOOK_RAD * towards_left
        pitch = frames[:, _GAZE][:, 1] + EYE_LOOK_RAD * (c("eyeLookUp") - c("eyeLookDown"))
        return yaw.clamp(-0.7, 0.7), pitch.clamp(-0.6, 0.6)


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


def _span_distances(upper: torch.Tensor, lower: torch.Tensor, q: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """An opening bounded by two curves that share their end points (lips, lids): upper (B, N, 2), lower (B, N, 2),
    pixel centres q (h, w, 2) of an axis-aligned box → distance below the upper curve, distance above the lower
    curve (vertical, positive inside) and |position between the corners| (0 mid, 1 at a corner), each
    (B, 1, h, w). The curves are interpolated once per column, not per pixel: lips and lids stay single-valued
    in x for the head rolls the renderer allows (±0.3 rad)."""
    b = upper.shape[0]
    xs = q[0, :, 0]                                                                  # (w,) column centres
    ys = q[:, 0, 1]                                                                  # (h,) row centres
    xq = xs.expand(b, -1).contiguous()

    def curve_y(curve: torch.Tensor) -> torch.Tensor:                                # (B, N, 2) → (B, w)
        cx, order = curve[..., 0].sort(dim=1)
        cy = curve[..., 1].gather(1, order)
        idx = torch.searchsorted(cx.contiguous(), xq).clamp(1, cx.shape[1] - 1)
        x0, x1 = cx.gather(1, idx - 1), cx.gather(1, idx)
        y0, y1 = cy.gather(1, idx - 1), cy.gather(1, idx)
        t = ((xq - x0) / (x1 - x0).clamp(min=1e-6)).clamp(0, 1)
        return y0 + t * (y1 - y0)

    left = torch.minimum(upper[:, 0, 0], upper[:, -1, 0]).view(b, 1)
    right = torch.maximum(upper[:, 0, 0], upper[:, -1, 0]).view(b, 1)
    half = ((right - left) / 2).clamp(min=1e-6)
    mid = (right + left) / 2
    along = ((xq - mid).abs() / half).clamp(max=2.0)                                 # (B, w)
    beyond = ((xq - mid).abs() - half).clamp(min=0)                                  # outside the corners
    y_up = (curve_y(upper) + beyond).view(b, 1, 1, -1)
    y_low = (curve_y(lower) - beyond).view(b, 1, 1, -1)
    rows = ys.view(1, 1, -1, 1)
    d_up = rows - y_up                                                               # (B, 1, h, w)
    d_low = y_low - rows
    return d_up, d_low, along.view(b, 1, 1, -1).expand_as(d_up)
