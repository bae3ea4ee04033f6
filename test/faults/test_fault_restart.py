"""A node killed (SIGKILL) mid-build: the next node on the same state_dir keeps the history and says interrupted."""
from __future__ import annotations

import os
import signal

from actionlib_msgs.msg import GoalStatus

from docker_image_manager import srv
from node_tools import ActionRun, build_goal, call, make_context, node_pid, run_action, wait_for


def test_killed_node_comes_back_with_its_history(ros, start_node, base_image, tmp_path):
    params = {'allowed_context_roots': [str(tmp_path)], 'state_dir': str(tmp_path / 'state')}
    first = start_node('restart', params=params)
    done_ctx = make_context(tmp_path / 'done', 'FROM %s\nRUN echo finished-before-the-crash\n' % base_image)
    state, done = run_action(first, 'build', build_goal(done_ctx, no_cache=True))
    assert state == GoalStatus.SUCCEEDED, done.message
    long_ctx = make_context(tmp_path / 'long', 'FROM %s\nRUN echo crash-soon; sleep 60\n' % base_image)
    run = ActionRun(first, 'build', build_goal(long_ctx, no_cache=True))
    wait_for(lambda: any('crash-soon' in f.line for f in run.feedback), 60, 'the long RUN to start')
    running_id = run.job_id()
    os.kill(node_pid(first), signal.SIGKILL)
    first.stop()

    second = start_node('restart', params=params)
    jobs = {job.job_id: job for job in call(second, 'list_jobs', srv.ListJobs, limit=0, kind='').jobs}
    assert jobs[done.job_id].state == 'succeeded'
    assert jobs[running_id].state == 'interrupted'
    assert 'running' in jobs[running_id].message
    log = call(second, 'get_job_log', srv.GetJobLog, job_id=done.job_id, offset=0, max_lines=0)
    assert log.success and any('finished-before-the-crash' in line for line in log.lines)
    log = call(second, 'get_job_log', srv.GetJobLog, job_id=running_id, offset=0, max_lines=0)
    assert log.success and log.job.state == 'interrupted'
    # The new node works: a new build after the crash.
    state, result = run_action(second, 'build', build_goal(done_ctx))
    assert state == GoalStatus.SUCCEEDED, result.message
    assert call(second, 'list_jobs', srv.ListJobs, limit=1, kind='').jobs[0].job_id == result.job_id
