"""The built-in skeleton layouts as data: the Bandai Namco mocap rig of ../shared/data, Kinect v2, Human3.6M,
SMPL, Emotion-Gait, and the pose-estimator outputs (COCO-17 lifted to 3D, MediaPipe Pose world landmarks,
OpenPose BODY_25) in each tool's own joint order. Importing :mod:`.layouts` registers them as built-ins."""

from __future__ import annotations

from typing import Iterable

from .layouts import _builtin, _layout

#: The 22-joint BVH rig of the Bandai Namco Research motion dataset (../shared/data).
BANDAI_NAMCO_22 = _builtin(_layout(
    "bandai_namco_22", "Bandai Namco Research Motiondataset BVH rig (22 joints incl. floor root).", [
        ("joint_Root", None, None), ("Hips", "joint_Root", "pelvis"), ("Spine", "Hips", "spine"),
        ("Chest", "Spine", "chest"), ("Neck", "Chest", "neck"), ("Head", "Neck", "head"),
        ("Shoulder_L", "Chest", "l_collar"), ("UpperArm_L", "Shoulder_L", "l_shoulder"),
        ("LowerArm_L", "UpperArm_L", "l_elbow"), ("Hand_L", "LowerArm_L", "l_wrist"),
        ("Shoulder_R", "Chest", "r_collar"), ("UpperArm_R", "Shoulder_R", "r_shoulder"),
        ("LowerArm_R", "UpperArm_R", "r_elbow"), ("Hand_R", "LowerArm_R", "r_wrist"),
        ("UpperLeg_L", "Hips", "l_hip"), ("LowerLeg_L", "UpperLeg_L", "l_knee"),
        ("Foot_L", "LowerLeg_L", "l_ankle"), ("Toes_L", "Foot_L", "l_foot"),
        ("UpperLeg_R", "Hips", "r_hip"), ("LowerLeg_R", "UpperLeg_R", "r_knee"),
        ("Foot_R", "LowerLeg_R", "r_ankle"), ("Toes_R", "Foot_R", "r_foot"),
    ]))

#: Microsoft Kinect v2 (25 joints), in the SDK's JointType order (a child may precede its parent).
KINECT_V2 = _builtin(_layout("kinect_v2", "Microsoft Kinect v2 body tracking (25 joints, SDK order).", [
    ("SpineBase", None, "pelvis"), ("SpineMid", "SpineBase", "spine"), ("Neck", "SpineShoulder", "neck"),
    ("Head", "Neck", "head"), ("ShoulderLeft", "SpineShoulder", "l_shoulder"),
    ("ElbowLeft", "ShoulderLeft", "l_elbow"), ("WristLeft", "ElbowLeft", "l_wrist"),
    ("HandLeft", "WristLeft", "l_hand"), ("ShoulderRight", "SpineShoulder", "r_shoulder"),
    ("ElbowRight", "ShoulderRight", "r_elbow"), ("WristRight", "ElbowRight", "r_wrist"),
    ("HandRight", "WristRight", "r_hand"), ("HipLeft", "SpineBase", "l_hip"), ("KneeLeft", "HipLeft", "l_knee"),
    ("AnkleLeft", "KneeLeft", "l_ankle"), ("FootLeft", "AnkleLeft", "l_foot"),
    ("HipRight", "SpineBase", "r_hip"), ("KneeRight", "HipRight", "r_knee"),
    ("AnkleRight", "KneeRight", "r_ankle"), ("FootRight", "AnkleRight", "r_foot"),
    ("SpineShoulder", "SpineMid", "chest"), ("HandTipLeft", "HandLeft", None), ("ThumbLeft", "HandLeft", None),
    ("HandTipRight", "HandRight", None), ("ThumbRight", "HandRight", None),
]))

#: Human3.6M 17-joint layout as used by most 3D pose estimators (VideoPose3D, MotionBERT, ...).
H36M_17 = _builtin(_layout("h36m_17", "Human3.6M 17 joints (3D pose-estimator output order).", [
    ("Hip", None, "pelvis"), ("RHip", "Hip", "r_hip"), ("RKnee", "RHip", "r_knee"), ("RFoot", "RKnee", "r_ankle"),
    ("LHip", "Hip", "l_hip"), ("LKnee", "LHip", "l_knee"), ("LFoot", "LKnee", "l_ankle"),
    ("Spine", "Hip", "spine"), ("Thorax", "Spine", "neck"), ("Nose", "Thorax", None), ("Head", "Nose", "head"),
    ("LShoulder", "Thorax", "l_shoulder"), ("LElbow", "LShoulder", "l_elbow"), ("LWrist", "LElbow", "l_wrist"),
    ("RShoulder", "Thorax", "r_shoulder"), ("RElbow", "RShoulder", "r_elbow"), ("RWrist", "RElbow", "r_wrist"),
]))

_SMPL_24 = [
    ("pelvis", None, "pelvis"), ("left_hip", "pelvis", "l_hip"), ("right_hip", "pelvis", "r_hip"),
    ("spine1", "pelvis", "spine"), ("left_knee", "left_hip", "l_knee"), ("right_knee", "right_hip", "r_knee"),
    ("spine2", "spine1", None), ("left_ankle", "left_knee", "l_ankle"), ("right_ankle", "right_knee", "r_ankle"),
    ("spine3", "spine2", "chest"), ("left_foot", "left_ankle", "l_foot"), ("right_foot", "right_ankle", "r_foot"),
    ("neck", "spine3", "neck"), ("left_collar", "spine3", "l_collar"), ("right_collar", "spine3", "r_collar"),
    ("head", "neck", "head"), ("left_shoulder", "left_collar", "l_shoulder"),
    ("right_shoulder", "right_collar", "r_shoulder"), ("left_elbow", "left_shoulder", "l_elbow"),
    ("right_elbow", "right_shoulder", "r_elbow"), ("left_wrist", "left_elbow", "l_wrist"),
    ("right_wrist", "right_elbow", "r_wrist"), ("left_hand", "left_wrist", "l_hand"),
    ("right_hand", "right_wrist", "r_hand"),
]
#: SMPL body joints (24, with hands) and the 22-joint SMPL/SMPL-X body without hand joints.
SMPL_24 = _builtin(_layout("smpl_24", "SMPL body model joints (24).", _SMPL_24))
SMPL_22 = _builtin(_layout("smpl_22", "SMPL/SMPL-X body joints without hands (22, e.g. HumanML3D).", _SMPL_24[:22]))

#: The 16-joint layout of the Emotion-Gait / STEP gait datasets (Bhattacharya et al. 2020).
EMOTION_GAIT_16 = _builtin(_layout("emotion_gait_16", "Emotion-Gait / STEP 16-joint gait layout.", [
    ("root", None, "pelvis"), ("spine", "root", "chest"), ("neck", "spine", "neck"), ("head", "neck", "head"),
    ("left_shoulder", "neck", "l_shoulder"), ("left_elbow", "left_shoulder", "l_elbow"),
    ("left_hand", "left_elbow", "l_wrist"), ("right_shoulder", "neck", "r_shoulder"),
    ("right_elbow", "right_shoulder", "r_elbow"), ("right_hand", "right_elbow", "r_wrist"),
    ("left_hip", "root", "l_hip"), ("left_knee", "left_hip", "l_knee"), ("left_foot", "left_knee", "l_ankle"),
    ("right_hip", "root", "r_hip"), ("right_knee", "right_hip", "r_knee"), ("right_foot", "right_knee", "r_ankle"),
]))


# ---- pose-estimator outputs -------------------------------------------------------------------------
# Estimators have no skeleton tree; each tree below is rooted at the one central joint (nose / mid hip)
# so that left and right limbs mirror each other. Unified joints they lack (pelvis, neck, head centre)
# are midpoints of two joints. Arrays may carry a 4th confidence channel (see skeleton/io/confidence.py).
_MIDPOINTS_LR = {"pelvis": ("left_hip", "right_hip"), "neck": ("left_shoulder", "right_shoulder"),
                 "head": ("left_ear", "right_ear")}


def _face_and_body(face: list[tuple[str, str | None, str | None]]) -> list[tuple[str, str | None, str | None]]:
    """COCO/MediaPipe-style ``left_*``/``right_*`` body joints hanging off the nose, after ``face``."""
    body = []
    for side, s in (("left", "l"), ("right", "r")):
        body += [(f"{side}_shoulder", "nose", f"{s}_shoulder"), (f"{side}_elbow", f"{side}_shoulder", f"{s}_elbow"),
                 (f"{side}_wrist", f"{side}_elbow", f"{s}_wrist"), (f"{side}_hip", f"{side}_shoulder", f"{s}_hip"),
                 (f"{side}_knee", f"{side}_hip", f"{s}_knee"), (f"{side}_ankle", f"{side}_knee", f"{s}_ankle")]
    return face + body


def _in_order(order: Iterable[str], joints: list[tuple[str, str | None, str | None]]):
    by_name = {j[0]: j for j in joints}
    return [by_name[n] for n in order]


_COCO_ORDER = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
               "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
               "right_knee", "left_ankle", "right_ankle")
#: COCO-17 keypoints (lifted to 3D, e.g. by a 2D->3D lifter), in COCO's keypoint order.
COCO_17 = _builtin(_layout("coco_17", "COCO 17 keypoints lifted to 3D (COCO order; pelvis, neck, head = midpoints).",
                           _in_order(_COCO_ORDER, _face_and_body([
                               ("nose", None, None), ("left_eye", "nose", None), ("right_eye", "nose", None),
                               ("left_ear", "left_eye", None), ("right_ear", "right_eye", None)])), _MIDPOINTS_LR))

_MEDIAPIPE_ORDER = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye", "right_eye_outer",
    "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_pinky", "right_pinky", "left_index", "right_index",
    "left_thumb", "right_thumb", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_heel", "right_heel", "left_foot_index", "right_foot_index")
_MEDIAPIPE_EXTRA = [(f"{side}_{part}", f"{side}_{parent}", unified)
                    for side, s in (("left", "l"), ("right", "r"))
                    for part, parent, unified in (("eye_inner", "eye", None), ("eye_outer", "eye", None),
                                                  ("pinky", "wrist", None), ("index", "wrist", f"{s}_hand"),
                                                  ("thumb", "wrist", None), ("heel", "ankle", None),
                                                  ("foot_index", "ankle", f"{s}_foot"))]
#: MediaPipe Pose world landmarks (33, metres, hip-centred), in MediaPipe's landmark order.
MEDIAPIPE_33 = _builtin(_layout(
    "mediapipe_33", "MediaPipe Pose world landmarks (33, landmark order; pelvis, neck, head = midpoints).",
    _in_order(_MEDIAPIPE_ORDER, _face_and_body([
        ("nose", None, None), ("left_eye", "nose", None), ("right_eye", "nose", None),
        ("left_ear", "left_eye", None), ("right_ear", "right_eye", None),
        ("mouth_left", "nose", None), ("mouth_right", "nose", None)]) + _MEDIAPIPE_EXTRA), _MIDPOINTS_LR))

#: OpenPose BODY_25 keypoints (lifted to 3D), in OpenPose's order (0 Nose, 1 Neck, ..., 8 MidHip, ...).
OPENPOSE_25 = _builtin(_layout("openpose_25", "OpenPose BODY_25 keypoints lifted to 3D (OpenPose order).", [
    ("Nose", "Neck", None), ("Neck", "MidHip", "neck"), ("RShoulder", "Neck", "r_shoulder"),
    ("RElbow", "RShoulder", "r_elbow"), ("RWrist", "RElbow", "r_wrist"), ("LShoulder", "Neck", "l_shoulder"),
    ("LElbow", "LShoulder", "l_elbow"), ("LWrist", "LElbow", "l_wrist"), ("MidHip", None, "pelvis"),
    ("RHip", "MidHip", "r_hip"), ("RKnee", "RHip", "r_knee"), ("RAnkle", "RKnee", "r_ankle"),
    ("LHip", "MidHip", "l_hip"), ("LKnee", "LHip", "l_knee"), ("LAnkle", "LKnee", "l_ankle"),
    ("REye", "Nose", None), ("LEye", "Nose", None), ("REar", "REye", None), ("LEar", "LEye", None),
    ("LBigToe", "LAnkle", "l_foot"), ("LSmallToe", "LAnkle", None), ("LHeel", "LAnkle", None),
    ("RBigToe", "RAnkle", "r_foot"), ("RSmallToe", "RAnkle", None), ("RHeel", "RAnkle", None),
], {"head": ("LEar", "REar")}))
