"""The synthesized layers of the portrait renderer: the mouth interior (cavity, teeth on the jaws, tongue, lips
sealed over an open jaw) and the eyes (eyeball with the iris moved for gaze, synthesized lids over a blink).

`FaceLayers` is a part of `Renderer` (render/renderer.py), kept in its own file: its methods draw into the warped
ROI from the rig tensors the renderer uploaded (`Renderer._upload`)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vasa_bridge.motion import layout

_TONGUE = layout.channel("tongueOut")
BLINK_CHANNELS = (layout.channel("eyeBlinkRight"), layout.channel("eyeBlinkLeft"))   # image-left eye, image-right eye
_SQUINT = (layout.channel("eyeSquintRight"), layout.channel("eyeSquintLeft"))
_GAZE = layout.GAZE_SLICE
EYEBALL_RADIUS_IOD = 0.19      # ~12 mm: iris travel = radius * sin(gaze angle)
# ARKit eyeLook* → gaze angle (radians at weight 1), per eye. Names are per the subject's eye.
EYE_LOOK_RAD = 0.5
LID_FOLLOW_GAZE = 0.7          # upper lid travel per unit sin(gaze pitch), in rest openings (lids follow gaze)
# Synthesized upper teeth, IOD units (adult incisors ~8.5 mm wide, 10 mm long; IOD ~63 mm): the gap line's width
# and the visible tooth length under the lip (the edges between teeth: renderer.TOOTH_EDGES_IOD).
TOOTH_GAP_IOD = 0.009
TOOTH_LENGTH_IOD = 0.11
# Where sealed lips meet: a crease 35 % darker over ~1 px. A softer one (20 % over 2 px) looked gentler on the
# grin but let the face mesh read painted lips as apart (lip r on the set's paintings fell from 0.86 to 0.74).
LIP_CREASE_DARKEN = 0.35
LIP_CREASE_PX = 1.2   # closing lips meet this far from the upper lip (the lower lip travels more)


class FaceLayers:
    """The mouth and eye layers of `Renderer`; they read its rig and uploaded tensors (`self.rig`, `self.lip_up`,
    ...) and its `_active_roi` / `_sample`."""

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
        closing = torch.maximum(torch.maximum(frames[:, BLINK_CHANNELS[k]], frames[:, _SQUINT[k]]).view(b, 1, 1, 1),
                                lowered).clamp(0, 1)
        covered = (region[:, 3:4] * (1 - alpha)).clamp(0, 1) * (closing * 5).clamp(0, 1)
        # Lid skin: per column, the colour of the skin just outside the lids (above the higher of the moving and
        # the photo's upper lid, below the lower ones), smoothed along the eye: a closed lid then takes the
        # photo's own lid colour and shading instead of a flat patch.
        lid = self._lid_skin(rgb, d_up, d_low, q, pos, k)
        rgb = rgb + (lid - rgb) * covered
        rgb = rgb + (eyeball - rgb) * alpha
        blink = frames[:, BLINK_CHANNELS[k]].clamp(0, 1).view(b, 1, 1, 1)
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
