"""Core values to ROS messages. Pure functions: no publishing, no state."""
from __future__ import annotations

import rospy

from docker_image_manager import msg
from docker_image_manager.core.images import Container, ImageSummary, Layer
from docker_image_manager.core.jobs import Job
from docker_image_manager.core.progress import Snapshot


def stamp(seconds: float) -> rospy.Time:
    return rospy.Time.from_sec(seconds) if seconds and seconds > 0 else rospy.Time()


def image_info(image: ImageSummary) -> msg.ImageInfo:
    return msg.ImageInfo(id=image.id, repo_tags=image.repo_tags, repo_digests=image.repo_digests,
                         created=stamp(image.created), size=image.size, layer_count=image.layer_count)


def layer_info(layer: Layer) -> msg.LayerInfo:
    return msg.LayerInfo(diff_id=layer.diff_id, created_by=layer.created_by, created=stamp(layer.created),
                         size=layer.size, comment=layer.comment, shared_with=layer.shared_with)


def container_info(container: Container) -> msg.ContainerInfo:
    return msg.ContainerInfo(id=container.id, name=container.name, image=container.image,
                             status=container.status, created=stamp(container.created))


def job_status(job: Job) -> msg.JobStatus:
    status = msg.JobStatus(job_id=job.job_id, kind=job.kind, target=job.target, state=job.state,
                           message=job.message, started=stamp(job.started or job.created),
                           finished=stamp(job.finished), percent=job.percent)
    status.header.stamp = rospy.Time.now()
    return status


def transfer_progress(job_id: str, image: str, direction: str, snapshot: Snapshot) -> msg.TransferProgress:
    progress = msg.TransferProgress(
        job_id=job_id, image=image, direction=direction,
        layers=[msg.LayerProgress(id=layer.id, status=layer.status, current=layer.current, total=layer.total)
                for layer in snapshot.layers],
        bytes_done=snapshot.bytes_done, bytes_total=snapshot.bytes_total, percent=snapshot.percent,
        rate_bps=snapshot.rate_bps, eta_s=snapshot.eta_s, done=snapshot.done, error=snapshot.error)
    progress.header.stamp = rospy.Time.now()
    return progress
