# Dataset metainfo for carcinosis point localization: one keypoint class.
dataset_info = dict(
    dataset_name='carcinosis',
    paper_info=dict(
        author='',
        title='Learning from Sparse Point Labels for Dense Carcinosis '
        'Localization in Advanced Ovarian Cancer Assessment',
        container='arXiv 2507.06643',
        year='2025',
        homepage='',
    ),
    keypoint_info={
        0: dict(name='carcinosis', id=0, color=[255, 255, 0], type='', swap='')
    },
    skeleton_info={},
    joint_weights=[1.0],
    sigmas=[0.025])
