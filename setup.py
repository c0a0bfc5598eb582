"""mmpose-carcinosis: dense carcinosis localization from sparse point labels, as an MMPose plugin.

The OpenMMLab stack (torch, mmcv with compiled ops, mmengine, mmdet, mmpose) is deliberately NOT
listed in ``install_requires``: ``pip install -e .`` into an environment that already has MMPose
must never rebuild or replace those (mmcv is a 10-minute source build; mmpose's own metadata asks
for chumpy, which no longer installs). ``tools/install_env.sh`` (``make install``) installs the
verified stack for a fresh machine; the plugin checks versions at import time.
"""
import os.path as osp

from setuptools import find_packages, setup


def read_requirements(name):
    with open(osp.join(osp.dirname(__file__), 'requirements', name)) as f:
        return [line.strip() for line in f if line.strip() and not line.startswith('#')]


def read_version():
    ns = {}
    with open(osp.join(osp.dirname(__file__), 'mmpose_carcinosis', 'version.py')) as f:
        exec(f.read(), ns)
    return ns['__version__']


setup(
    name='mmpose_carcinosis',
    version=read_version(),
    description='Crag and Tail loss and sparse-point carcinosis localization for MMPose',
    long_description=open('README.md').read() if osp.exists('README.md') else '',
    long_description_content_type='text/markdown',
    packages=find_packages(include=['mmpose_carcinosis', 'mmpose_carcinosis.*']),
    package_data={'mmpose_carcinosis': ['metainfo/*.py']},
    include_package_data=True,
    python_requires='>=3.8',
    install_requires=read_requirements('runtime.txt'),
    extras_require={'tests': ['pytest', 'pytest-timeout']},
    license='Apache License 2.0',
    zip_safe=False,
)
