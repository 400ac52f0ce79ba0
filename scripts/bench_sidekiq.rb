# The Sidekiq side of `make bench-jobs`: the same burst of no-op jobs as
# our benchmark (JOBS, 100,000 by default), pushed in batches of 1,000 while
# two `sidekiq` processes of 10 threads each run them, on the same Redis
# (its own database number, emptied first). Prints one line: jobs/s from
# the first push until the queue is empty and every job is counted.
#
#   SIDEKIQ_REDIS_URL=redis://127.0.0.1:6379/15 ruby scripts/bench_sidekiq.rb
#
# Loaded by the sidekiq processes too (`-r`), for the job class.
require 'sidekiq'
require 'sidekiq/api'

# redis-rb 4.8 warns on every push that Sidekiq 6.4 uses an old call.
Redis.silence_deprecations = true if Redis.respond_to?(:silence_deprecations=)

# The no-op job: does nothing, like `diag.noop`.
class NoopJob
  include Sidekiq::Worker
  sidekiq_options retry: false

  def perform(_n); end
end

# Waits for a condition, polling every 10 ms, up to `limit` seconds.
def wait_until(what, limit)
  deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + limit
  until yield
    raise "#{what}: not within #{limit} s" if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline

    sleep 0.01
  end
end

if $PROGRAM_NAME == __FILE__
  total = Integer(ENV.fetch('JOBS', '100000'))
  processes = Integer(ENV.fetch('SIDEKIQ_PROCESSES', '2'))
  threads = Integer(ENV.fetch('SIDEKIQ_THREADS', '10'))
  url = ENV.fetch('SIDEKIQ_REDIS_URL', 'redis://127.0.0.1:6379/15')
  Sidekiq.configure_client { |c| c.redis = { url: url } }
  Sidekiq.redis(&:flushdb)

  env = { 'REDIS_URL' => url }
  pids = Array.new(processes) do
    spawn(env, 'sidekiq', '-c', threads.to_s, '-r', File.expand_path(__FILE__),
          out: File::NULL, err: File::NULL)
  end
  begin
    wait_until('sidekiq processes up', 60) { Sidekiq::ProcessSet.new.size == processes }
    batch = 1_000
    start = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    left = total
    while left.positive?
      n = [left, batch].min
      Sidekiq::Client.push_bulk('class' => NoopJob, 'args' => Array.new(n) { |i| [i] })
      left -= n
    end
    pushed = Process.clock_gettime(Process::CLOCK_MONOTONIC) - start
    wait_until('queue drained', 600) { Sidekiq::Queue.new('default').size.zero? }
    drained = Process.clock_gettime(Process::CLOCK_MONOTONIC) - start
    # The processed count is flushed by each process's heartbeat (about
    # every 5 s): it confirms every job ran; the time is taken at drain.
    wait_until('every job counted', 60) { Sidekiq::Stats.new.processed >= total }
    printf("sidekiq:     %d jobs in %.2f s = %.0f jobs/s (%d processes x %d threads; push alone %.0f jobs/s)\n",
           total, drained, total / drained, processes, threads, total / pushed)
  ensure
    pids.each { |pid| Process.kill('TERM', pid) rescue nil }
    pids.each { |pid| Process.wait(pid) rescue nil }
    Sidekiq.redis(&:flushdb)
  end
end
